import { parentPort } from 'node:worker_threads';
import { finishListedRows, type FinishTask } from './knn-select.ts';

/**
 * Worker half of knn's symmetric search. Started before the products so its start-up overlaps them; it then
 * waits for the finishing task, finishes rows from the shared counter into the shared output and answers the
 * rows to redo.
 */
parentPort!.on('message', (m: { kind: 'finish'; task: FinishTask }) => parentPort!.postMessage(finishListedRows(m.task)));
