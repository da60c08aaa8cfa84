/** In-process CPU profiles for the in-process benches (run.ts, parse.ts), through the inspector. */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';

/** Starts profiling when `enabled`; the function returned stops it and writes the `.cpuprofile` to `file`. */
export async function startCpuProfile(enabled: boolean): Promise<(file: string) => Promise<void>> {
  if (!enabled) return async () => {};
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  return async (file) => {
    const { profile } = await session.post('Profiler.stop');
    writeFileSync(file, JSON.stringify(profile));
    session.disconnect();
  };
}
