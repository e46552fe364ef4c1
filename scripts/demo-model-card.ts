import type { TrainingState } from '../src/params/train.ts';
export async function writeModelCard(_o: { st: TrainingState; data: unknown; outDir: string; runDir: string }): Promise<void> {}
