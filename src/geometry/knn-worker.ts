import { parentPort, workerData } from 'node:worker_threads';
import { finishListedRows, type FinishTask } from './knn-select.ts';

/** Worker half of knn's symmetric search: finishes rows [from, to) into the shared output; answers the rows to redo. */
parentPort!.postMessage(finishListedRows(workerData as FinishTask));
