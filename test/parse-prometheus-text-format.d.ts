// The parser ships no types; tests read its output loosely and type what they assert on.
declare module 'parse-prometheus-text-format' {
  export default function parsePrometheusTextFormat(text: string): unknown[]
}
