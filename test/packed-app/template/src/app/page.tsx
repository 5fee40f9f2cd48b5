export default function Home() {
  return <main>packed-app</main>
}
