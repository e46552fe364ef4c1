/** Defaults of opening a model (loadModel / openModel, every command that runs one): written once here. */
import { defineOptions, opt } from '../util/option-table.ts';
import { DEVICES, type Device } from './device.ts';
import { parseSize } from './memory.ts';

export const MODEL_OPTIONS = defineOptions({
  tokenizer: opt<string | undefined>({ kind: 'string', default: undefined, metavar: 'FILE', defaultText: 'the one beside the weights', help: 'tokenizer file to use: tokenizer.json, SentencePiece .model or llama2.c tokenizer .bin' }),
  revision: opt<string>({ kind: 'string', default: 'main', metavar: 'REV', help: 'hub revision (branch, tag or commit)' }),
  threads: opt<number | undefined>({ kind: 'int', default: undefined, min: 1, metavar: 'N', defaultText: 'all cores', help: 'CPU threads' }),
  maxMemory: opt<number | string | undefined>({ kind: 'string', default: undefined, metavar: 'SIZE', defaultText: '80 % of the free memory (cgroup limit included)', parse: (raw, flag) => { parseSize(raw, flag); return raw; }, help: 'memory the model may use (8G, 512M); when its float32 weights do not fit, blocks are streamed' }),
  device: opt<Device>({ kind: 'choice', default: 'cpu', choices: DEVICES, help: 'onnxruntime execution provider (cuda needs ONNXRUNTIME_NODE_INSTALL=cuda12 at install)' }),
  sessionCache: opt<string | undefined>({ kind: 'string', default: undefined, metavar: 'DIR', defaultText: 'none', help: 'keep onnxruntime session files (graph + float32 weights: as big as the float32 model, one per model and output selection) in DIR and start from them next time, without reading or converting the weights' }),
  verbose: opt<boolean>({ kind: 'boolean', default: false, help: 'print load timings (weights read+converted, sessions built, first forward batch)' }),
});
