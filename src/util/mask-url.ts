/**
 * A URL as it may be shown (--check-config, config errors, /status, logs): its credentials masked.
 * Used by the config loader and by the exporters that show their URLs, so it imports nothing.
 */
export const MASK = '********';

/**
 * The password of a URL's user info: `scheme://user:password@host`, up to the last `@`: a password
 * with an unencoded `/`, `?` or `#` (the kind of URL that fails validation) is masked whole too.
 */
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^/?#@:]*):.*@/is;
/** User info without a colon (`https://TOKEN@host`): services hand out such URLs with the token as the user. */
const URL_USER_ONLY = /^([a-z][a-z0-9+.-]*:\/\/)[^/?#@:]+@/i;
const URL_START = /^[a-z][a-z0-9+.-]*:\/\//i;
/** Query parameters that carry a credential: `api_key`, `token`, `access_token`, `sig`, `X-Amz-Signature`… (any case, any prefix before `_` or `-`). */
const QUERY_SECRET = /^(?:.*[_-])?(?:api[_-]?key|apikey|key|token|password|passwd|pwd|secret|sig|signature|auth|authorization|credential|credentials)$/i;
const QUERY_PAIR = /([?&;])([^=&;#]+)=([^&;#]*)/g;

/** A URL with its credentials masked: the user info's password (or the whole user info when it has no colon) and credential query parameters. */
export function maskUrlSecrets(text: string): string {
  if (!URL_START.test(text)) return text;
  const withoutUserInfo = text.replace(URL_PASSWORD, `$1:${MASK}@`).replace(URL_USER_ONLY, `$1${MASK}@`);
  const query = withoutUserInfo.indexOf('?');
  if (query < 0) return withoutUserInfo;
  const maskedQuery = withoutUserInfo.slice(query).replace(QUERY_PAIR, (pair, separator: string, name: string, value: string) => {
    return value !== '' && QUERY_SECRET.test(decodeName(name)) ? `${separator}${name}=${MASK}` : pair;
  });
  return withoutUserInfo.slice(0, query) + maskedQuery;
}

/** A URL as it may be shown when the user info is never needed: none at all, and credential query parameters masked. */
export function urlWithoutCredentials(url: URL): string {
  const copy = new URL(url.href);
  copy.username = '';
  copy.password = '';
  return maskUrlSecrets(copy.href);
}

function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}

