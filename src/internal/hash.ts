import { createHash, createHmac } from 'node:crypto';

/**
 * A value's SHA-256, or its HMAC-SHA-256 with `secret`, in base64url (43 characters): how credentials,
 * API keys and logged keys are kept, never raw. Callers shorten it as they need.
 */
export const keyedHash =
  (secret: string | undefined) =>
  (value: string): string =>
    (secret === undefined ? createHash('sha256') : createHmac('sha256', secret))
      .update(value)
      .digest('base64url');
