import { parentPort } from 'node:worker_threads';
import { finishListedRows, scanBlock, thresholdBlock, type FinishTask, type ScanTask, type ThresholdTask } from './knn-select.ts';

/**
 * Worker half of knn's symmetric search. Started before the products so its start-up overlaps them. It turns
 * the threshold pass's product blocks into thresholds and scans the main pass's product blocks into the shared candidate lists while the main thread computes the next
 * product (each block's buffer is transferred here and back, no copy), then finishes rows from the shared
 * counter into the shared output and answers the rows to redo. Messages are answered in order, after a first
 * 'ready' once the module is loaded (until then the main thread scans blocks itself).
 */
type Message = { kind: 'scan'; task: ScanTask; g: Float32Array } | { kind: 'thresholds'; task: ThresholdTask; g: Float32Array } | { kind: 'finish'; task: FinishTask };

parentPort!.on('message', (m: Message) => {
  if (m.kind === 'scan' || m.kind === 'thresholds') {
    if (m.kind === 'scan') scanBlock(m.task, m.g);
    else thresholdBlock(m.task, m.g);
    parentPort!.postMessage(m.g, [m.g.buffer as ArrayBuffer]);
  } else {
    parentPort!.postMessage(finishListedRows(m.task));
  }
});
parentPort!.postMessage('ready');
