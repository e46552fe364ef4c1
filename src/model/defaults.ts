/** Defaults of opening a model (loadModel / openModel, every command that runs one): written once here. */
import { defineOptions, opt } from '../util/option-table.ts';

export const MODEL_OPTIONS = defineOptions({
  tokenizer: opt<string | undefined>({ kind: 'string', default: undefined, metavar: 'FILE', defaultText: 'the one beside the weights', help: 'tokenizer file to use: tokenizer.json, SentencePiece .model or llama2.c tokenizer .bin' }),
  revision: opt<string>({ kind: 'string', default: 'main', metavar: 'REV', help: 'hub revision (branch, tag or commit)' }),
  threads: opt<number | undefined>({ kind: 'int', default: undefined, min: 1, metavar: 'N', defaultText: 'all cores', help: 'CPU threads' }),
});
