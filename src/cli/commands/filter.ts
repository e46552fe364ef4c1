import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseFlagsWithConfig, intFlag, requireFlag, stringFlag, type Command } from '../command.ts';
import { AtlasError } from '../../errors.ts';
import { corpusFiles, filterCorpus } from '../../data/corpus-filter.ts';
import { writeDatasetCsv, writeDatasetJsonl } from '../../data/dataset.ts';
import { progress } from '../../util/progress.ts';

const FILTER_FLAGS = {
  corpus: { type: 'string' },
  patterns: { type: 'string' },
  'per-label': { type: 'string', default: '100' },
  'min-chars': { type: 'string', default: '1' },
  'max-chars': { type: 'string' },
  unit: { type: 'string', default: 'line' },
  rule: { type: 'string', default: 'span' },
  ambiguous: { type: 'string', default: 'skip' },
  'keep-duplicates': { type: 'boolean', default: false },
  'skip-invalid-utf8': { type: 'boolean', default: false },
  out: { type: 'string', default: 'filtered.csv' },
} as const;

/** Streams a corpus and keeps labelled texts that match keyword patterns (the seed-001 notebook's data step). */
export const filterCommand: Command = {
  name: 'filter',
  summary: 'stream a corpus and keep texts matching labelled keyword patterns (a labelled dataset for extract)',
  help: `Usage: latent-atlas filter --corpus DIR|FILE --patterns builtin:days|FILE [--per-label 100] [--out filtered.csv]

Reads the corpus (a text file, or every .txt file under a folder, in sorted path order) line by line without
holding it in memory, and keeps at most --per-label texts per label whose text matches that label's pattern.
Stops reading once every label is full. Writes CSV (or JSONL when --out ends in .jsonl) with columns text, label,
match_start, match_end, file, line; 'extract --aggregate match' reads the match positions.

Options:
  --corpus PATH          a text file or a folder of .txt files (one text per line)
  --patterns SPEC        builtin:days | builtin:months | a JSON file {"label": "regex"} | a TSV file label<TAB>regex
  --per-label N          texts kept per label (default 100)
  --min-chars N          skip shorter texts (default 1)   --max-chars N   skip longer texts
  --unit line|sentence   one text per line, or per sentence of each line (default line)
  --rule span|cut        span (default): keep the whole text and record the match;
                         cut (the original notebook's rule): case-insensitive keyword bounded by non-word
                         characters, text cut to end at the keyword so that 'final' pooling reads the keyword
  --ambiguous skip|first texts matching several labels: skip them (default) or keep the first label
  --keep-duplicates      keep repeated identical texts (default: dropped)
  --skip-invalid-utf8    skip lines that are not UTF-8 (default: stop with an error naming the line)
  --out FILE             output .csv or .jsonl (default filtered.csv)`,
  async run(argv) {
    const { values } = parseFlagsWithConfig('filter', argv, FILTER_FLAGS);
    const corpus = requireFlag(values.corpus, 'corpus', 'a text file or a folder of .txt files');
    const patterns = requireFlag(values.patterns, 'patterns', 'builtin:days, builtin:months or a patterns file');
    const rule = stringFlag(values.rule);
    if (rule !== 'span' && rule !== 'cut') throw new AtlasError(`--rule must be span or cut, got '${rule}'`);
    const unit = stringFlag(values.unit);
    if (unit !== 'line' && unit !== 'sentence') throw new AtlasError(`--unit must be line or sentence, got '${unit}'`);
    const ambiguous = stringFlag(values.ambiguous);
    if (ambiguous !== 'skip' && ambiguous !== 'first') throw new AtlasError(`--ambiguous must be skip or first, got '${ambiguous}'`);
    const out = resolve(stringFlag(values.out) ?? 'filtered.csv');
    const total = corpusFiles(corpus).reduce((a, f) => a + statSync(f).size, 0);
    const bar = progress({ total, label: 'filter', unit: 'B' });
    let shown = 0;
    const res = await filterCorpus(corpus, {
      patterns,
      maxPerLabel: intFlag(values['per-label'], 'per-label', 100, 1),
      minChars: intFlag(values['min-chars'], 'min-chars', 1, 0),
      maxChars: values['max-chars'] === undefined ? undefined : intFlag(values['max-chars'], 'max-chars', 0, 1),
      unit, rule, ambiguous,
      dedupe: values['keep-duplicates'] !== true,
      invalidUtf8: values['skip-invalid-utf8'] === true ? 'skip' : 'error',
      onProgress: (b) => { bar.tick(b - shown); shown = b; },
    });
    bar.done();
    const extra = { file: res.origins.map((o) => o.file), line: res.origins.map((o) => o.line) };
    if (out.endsWith('.jsonl')) writeDatasetJsonl(res.dataset, out);
    else writeDatasetCsv(res.dataset, out, extra);
    for (const w of res.dataset.warnings) console.error(`warning: ${w}`);
    const counts = Object.entries(res.stats.keptPerLabel).map(([l, n]) => `${l} ${n}`).join(', ');
    console.log(`kept ${res.dataset.texts.length} texts from ${res.stats.linesRead} lines in ${res.stats.filesRead} file(s)${res.stats.stoppedEarly ? ' (every label full: stopped early)' : ''}: ${counts}`);
    console.log(out);
  },
};
