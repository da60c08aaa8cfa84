import { pino, type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Paths pino blanks out wherever they appear: credentials never reach a log line. */
export const REDACT_PATHS = [
  'password', '*.password', '*.*.password', '*.*.*.password',
  'api_key', '*.api_key', '*.*.api_key', '*.*.*.api_key',
  'apiKey', '*.apiKey', '*.*.apiKey',
  'authorization', '*.authorization', '*.*.authorization', 'headers.authorization', '*.headers.authorization',
  'auth', '*.auth', '*.*.auth',
  'key', '*.key', '*.*.key',
  'token', '*.token', '*.*.token',
];

export interface LoggerSettings {
  readonly level: string;
  readonly format: 'json' | 'pretty';
}

export function createLogger(settings: LoggerSettings, destination?: NodeJS.WritableStream): Logger {
  const options: LoggerOptions = {
    name: 'dockhand',
    level: settings.level,
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  if (settings.format === 'pretty') {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: false, destination: 2 } } });
  }
  return pino(options, destination ?? pino.destination({ fd: 2, sync: false }));
}

/** A logger that writes nothing, for tests and tools. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
