import { ConfigError } from '@tierbus/core'
import { type Authorize, bearer } from '@tierbus/next'

/** The variable holding the token the dashboard and the admin API routes require. */
export const ADMIN_TOKEN_VARIABLE = 'TIERBUS_ADMIN_TOKEN'

let checker: { token: string; authorize: Authorize } | undefined

/**
 * `Authorization: Bearer <TIERBUS_ADMIN_TOKEN>` for the admin routes (metrics, dead letters, model toggle).
 * There is no default, in development either: without the variable every admin request is refused
 * (500 with code CONFIG; the reason is in the server log), so the routes are never open by mistake.
 */
export const adminAuthorize: Authorize = (request) => {
  const token = process.env[ADMIN_TOKEN_VARIABLE]
  if (!token)
    throw new ConfigError(
      `set ${ADMIN_TOKEN_VARIABLE} (e.g. openssl rand -hex 32) to use the dashboard and the admin API routes`,
    )
  if (checker?.token !== token) checker = { token, authorize: bearer(token) }
  return checker.authorize(request)
}
