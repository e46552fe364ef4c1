/**
 * Built-in calibration texts for `fim` when no --data is given, as the Fisher/similarity toolkit has its own
 * fixed list of generic English sentences. These are written for Latent Atlas (not copied from upstream):
 * 24 short, topic-diverse, plain English sentences, so a run without data is deterministic and offline.
 * Upstream's default of 20 samples takes the first 20.
 */
export const CALIBRATION_SOURCE = 'builtin calibration sentences (src/data/calibration.ts)';

export const CALIBRATION_TEXTS: readonly string[] = [
  'The quick brown fox jumps over the lazy dog.',
  'Machine learning models learn patterns from large amounts of data.',
  'The weather today is sunny with a light breeze from the west.',
  'She opened the book and began to read the first chapter aloud.',
  'Water boils at one hundred degrees Celsius at sea level.',
  'The city council approved the new budget after a long debate.',
  'He walked to the market to buy fresh bread and vegetables.',
  'The history of science is full of surprising discoveries.',
  'Our team will meet on Monday morning to discuss the project plan.',
  'The museum displays paintings from many different centuries.',
  'Regular exercise and a balanced diet help people stay healthy.',
  'The train was delayed because of heavy snow on the tracks.',
  'Children played in the park while their parents talked nearby.',
  'The company reported higher profits in the third quarter.',
  'Music can change the mood of a room in a few seconds.',
  'The scientist carefully recorded the results of each experiment.',
  'A small boat sailed slowly across the calm blue lake.',
  'Reading every day is a good way to improve your vocabulary.',
  'The old bridge was repaired and opened again to traffic.',
  'Computers process information using sequences of simple instructions.',
  'The garden was full of roses, tulips and bright yellow daisies.',
  'They decided to travel by car instead of taking the plane.',
  'The teacher explained the problem again using a simple example.',
  'At night the stars were clearly visible above the quiet village.',
];
