/**
 * Text width estimate for layout. There is no font engine at SVG-writing time; DejaVu Sans (the font the PNG
 * renderer loads) averages about 0.6 em per character, so margins sized with this fit the labels.
 */
export function textWidth(s: string, fontSize: number): number {
  return [...s].length * fontSize * 0.62;
}

/** Shortens a label to at most `max` characters with an ellipsis, so one long class name cannot eat the plot. */
export function truncateLabel(s: string, max: number): string {
  const chars = [...s];
  return chars.length <= max ? s : `${chars.slice(0, Math.max(1, max - 1)).join('')}…`;
}
