import { parseFlags, type Command } from '../command.ts';
import { AtlasError } from '../../errors.ts';
import { resolveModel } from '../../model/hub.ts';
import { openCheckpoint } from '../../model/checkpoint.ts';

/** Prints what a checkpoint is: architecture, shapes, weight format, parameter count. */
export const infoCommand: Command = {
  name: 'info',
  summary: 'describe a model (local folder or hub id): architecture, shapes, weights',
  help: `Usage: latent-atlas info --model MODEL [--revision main]

MODEL is a local Hugging Face checkpoint folder or a hub id (gpt2, org/name), resolved through the
Hugging Face cache ($HF_HOME/hub) and downloaded from $HF_ENDPOINT when missing (HF_HUB_OFFLINE=1: cache only).`,
  async run(argv) {
    const { values } = parseFlags('info', argv, { model: { type: 'string' }, revision: { type: 'string', default: 'main' } });
    if (!values.model) throw new AtlasError('--model is required (a checkpoint folder or a hub id such as gpt2)');
    const dir = await resolveModel(values.model, { revision: values.revision });
    const ckpt = openCheckpoint(dir);
    try {
      const c = ckpt.config;
      let params = 0;
      for (const name of ckpt.names()) params += ckpt.shape(name).reduce((a, b) => a * b, 1);
      console.log(JSON.stringify({
        folder: dir, modelType: c.modelType, architecture: c.architecture, weights: ckpt.format,
        layers: c.nLayer, dModel: c.dModel, heads: c.nHead, kvHeads: c.nKvHead, headDim: c.headDim, dFF: c.dFF,
        vocabSize: c.vocabSize, maxPositions: c.maxPositions, tiedEmbeddings: c.tieWordEmbeddings, parameters: params,
      }, null, 2));
    } finally {
      ckpt.close();
    }
  },
};
