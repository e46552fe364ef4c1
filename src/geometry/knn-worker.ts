import { parentPort } from 'node:worker_threads';
import { finishListedRows, type FinishTask } from './knn-select.ts';

/**
 * Worker half of knn's symmetric search (kept for the process, see knn.ts `helper`): for each search it follows
 * the main thread, finishing rows into the shared output as their blocks complete, and answers the rows to redo.
 */
parentPort!.on('message', (m: { kind: 'finish'; task: FinishTask }) => parentPort!.postMessage(finishListedRows(m.task, true)));
