/**
 * `dockhand healthcheck`: the image's HEALTHCHECK. Asks the agent's /healthz (200 while the
 * process serves; /readyz is readiness, and a daemon or cluster outage must not make Docker call
 * the agent unhealthy) at the address the effective config listens on, loaded as the agent loads
 * it (file, environment), so a `listen:` in a mounted config is honoured. Exit 0 healthy, 1 not:
 * Docker reserves 2, so a config error is 1 here too.
 */
import http from 'node:http';
import https from 'node:https';

export const HEALTHCHECK_TIMEOUT_MS = 3000;

/** What the check reads of the config: where the server listens, and whether it speaks TLS there. */
export interface HealthcheckSettings {
  readonly listen: string;
  readonly server?: { readonly tls?: { readonly cert_file?: string | undefined } | undefined } | undefined;
}

/** Where to ask: a wildcard listen address (0.0.0.0, [::]) is asked on the loopback; https when the server has a certificate. */
export function healthzUrl(settings: HealthcheckSettings): string {
  const { listen } = settings;
  const colon = listen.lastIndexOf(':');
  const host = listen.slice(0, colon);
  const port = listen.slice(colon + 1);
  const local = host === '0.0.0.0' ? '127.0.0.1' : host === '[::]' ? '[::1]' : host;
  return `${settings.server?.tls?.cert_file ? 'https' : 'http'}://${local}:${port}/healthz`;
}

export interface HealthAnswer {
  readonly healthy: boolean;
  /** One line for `docker inspect`'s health log. */
  readonly detail: string;
}

export function checkHealth(url: string, timeoutMs = HEALTHCHECK_TIMEOUT_MS): Promise<HealthAnswer> {
  return new Promise((resolve) => {
    const onResponse = (response: http.IncomingMessage) => {
      response.resume();
      const status = response.statusCode ?? 0;
      resolve({ healthy: status === 200, detail: `${url}: HTTP ${status}` });
    };
    // The question is "does the process serve", not "is this the right server": its certificate
    // may name another host than the loopback, or be self-signed.
    const request = url.startsWith('https:')
      ? https.get(url, { timeout: timeoutMs, rejectUnauthorized: false }, onResponse)
      : http.get(url, { timeout: timeoutMs }, onResponse);
    request.on('timeout', () => request.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    request.on('error', (error) => resolve({ healthy: false, detail: `${url}: ${(error as NodeJS.ErrnoException).code ?? error.message}` }));
  });
}
