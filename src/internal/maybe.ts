/**
 * Hands the result of `make()` to `next`: at once when it is a value (a synchronous store's decision), when
 * it settles when it is a promise. Whatever `make` throws or rejects with goes to `fail`, so a caller never
 * hangs a request on a sync throw.
 */
export function whenReady<T>(
  make: () => T | Promise<T>,
  next: (value: T) => void,
  fail: (error: unknown) => void,
): void {
  let value: T | Promise<T>;
  try {
    value = make();
  } catch (error) {
    fail(error);
    return;
  }
  if (value instanceof Promise) value.then(next, fail);
  else next(value);
}
