import type { ConnectionState } from '@tierbus/core/adapter'
import { isDatabaseUnreachable } from './db-errors.js'
import type { DbDriver } from './driver.js'

/**
 * The driver, with every call reporting to `state`: a call that reaches the database means `up`, one
 * that cannot reach it means `down`. Claims poll at least every `pollIntervalMs`, so a lost database
 * shows within about one interval, and its return with the first call that gets through.
 */
export function observedDriver(driver: DbDriver, state: ConnectionState): DbDriver {
  const observed: DbDriver = Object.create(driver)
  observed.call = (fn, args) => state.observe(driver.call(fn, args), isDatabaseUnreachable)
  const insertEvent = driver.insertEvent
  if (insertEvent) observed.insertEvent = (row) => state.observe(insertEvent.call(driver, row), isDatabaseUnreachable)
  return observed
}
