/**
 * The readable text of a recorded OpenAI-style SSE stream: what the model said (content deltas,
 * tool-call arguments, Responses API text deltas), so a recording shows an answer, not 200 events.
 * Runs once per stream at completion, never per chunk.
 */
export function reassembleSseTranscript(sse: string): string {
  const text: string[] = [];
  const toolArgs = new Map<string, string>();
  for (const line of sse.split(/\r?\n/)) {
    if (!line.startsWith('data:')) continue;
    const data = line.slice(5).trim();
    if (data === '' || data === '[DONE]') continue;
    let event: any;
    try {
      event = JSON.parse(data);
    } catch {
      continue;
    }
    if (typeof event?.type === 'string') {
      if (event.type === 'response.output_text.delta' && typeof event.delta === 'string') text.push(event.delta);
      if (event.type === 'response.function_call_arguments.delta' && typeof event.delta === 'string') {
        const key = String(event.item_id ?? 'call');
        toolArgs.set(key, (toolArgs.get(key) ?? '') + event.delta);
      }
      continue;
    }
    for (const choice of Array.isArray(event?.choices) ? event.choices : []) {
      const delta = choice?.delta ?? {};
      if (typeof delta.content === 'string') text.push(delta.content);
      if (typeof choice?.text === 'string') text.push(choice.text);
      for (const call of Array.isArray(delta.tool_calls) ? delta.tool_calls : []) {
        const key = `${choice.index ?? 0}:${call.index ?? 0}`;
        const name = call.function?.name ? `${call.function.name}(` : '';
        toolArgs.set(key, (toolArgs.get(key) ?? '') + name + (call.function?.arguments ?? ''));
      }
    }
  }
  const calls = [...toolArgs.values()].map((args) => `[tool call] ${args}${args.includes('(') ? ')' : ''}`);
  return [text.join(''), ...calls].filter(Boolean).join('\n');
}
