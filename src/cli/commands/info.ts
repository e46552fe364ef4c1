import { parseFlags, type Command } from '../command.ts';
import { AtlasError } from '../../errors.ts';
import { resolveModel } from '../../model/hub.ts';
import { openCheckpoint } from '../../model/checkpoint.ts';
import { ARCHITECTURES } from '../../model/architectures/index.ts';

/** One line per architecture family: its model_types and what it covers. */
function supportedLines(): string[] {
  return ARCHITECTURES.map((m) => `  ${m.modelTypes.join(', ').padEnd(34)} ${m.description}`);
}

/** Prints what a checkpoint is: architecture, shapes, weight format, parameter count. */
export const infoCommand: Command = {
  name: 'info',
  summary: 'describe a model (local folder or hub id): architecture, shapes, weights',
  help: `Usage: latent-atlas info --model MODEL [--revision main]
       latent-atlas info            (lists the supported model types)

MODEL is a local Hugging Face checkpoint folder or a hub id (gpt2, org/name), resolved through the
Hugging Face cache ($HF_HOME/hub) and downloaded from $HF_ENDPOINT when missing (HF_HUB_OFFLINE=1: cache only).`,
  async run(argv) {
    const { values } = parseFlags('info', argv, { model: { type: 'string' }, revision: { type: 'string', default: 'main' } });
    if (!values.model) {
      console.log(`Supported model types (config.json model_type), and llama2.c .bin checkpoints:\n${supportedLines().join('\n')}`);
      return;
    }
    const dir = await resolveModel(values.model, { revision: values.revision });
    const ckpt = openCheckpoint(dir);
    try {
      const c = ckpt.config;
      let params = 0;
      for (const name of ckpt.names()) params += ckpt.shape(name).reduce((a, b) => a * b, 1);
      console.log(JSON.stringify({
        folder: dir, modelType: c.modelType, architecture: c.architecture, weights: ckpt.format,
        residual: c.spec.blocks[0]!.residual, rotary: c.spec.blocks[0]!.attn.rotary ?? null, learnedPositions: c.spec.embed.learnedPositions ?? null,
        layers: c.nLayer, dModel: c.dModel, heads: c.nHead, kvHeads: c.nKvHead, headDim: c.headDim, dFF: c.dFF,
        vocabSize: c.vocabSize, maxPositions: c.maxPositions, tiedEmbeddings: c.tieWordEmbeddings, parameters: params,
      }, null, 2));
    } finally {
      ckpt.close();
    }
  },
};
