import { parentPort } from 'node:worker_threads';
import { finishListedRows, scanBlock, type FinishTask, type ScanTask } from './knn-select.ts';

/**
 * Worker half of knn's symmetric search. Started before the products so its start-up overlaps them. It scans
 * the main pass's product blocks into the shared candidate lists while the main thread computes the next
 * product (each block's buffer is transferred here and back, no copy), then finishes rows from the shared
 * counter into the shared output and answers the rows to redo. Messages are answered in order.
 */
type Message = { kind: 'scan'; task: ScanTask; g: Float32Array } | { kind: 'finish'; task: FinishTask };

parentPort!.on('message', (m: Message) => {
  if (m.kind === 'scan') {
    scanBlock(m.task, m.g);
    parentPort!.postMessage(m.g, [m.g.buffer as ArrayBuffer]);
  } else {
    parentPort!.postMessage(finishListedRows(m.task));
  }
});
