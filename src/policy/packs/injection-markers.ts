/**
 * Known prompt-injection markers, as RE2 patterns over folded text (src/policy/packs/folded-text.ts:
 * lower case, accents and look-alike letters folded, white space collapsed). Each is one rule of
 * the high-risk-prompts pack, named after its `label` so a held request says what it matched.
 *
 * RE2 runs in linear time, so a hostile prompt cannot make these slow. Words may be separated by
 * any run of non-letters (`ignore-previous_instructions`, `ignore … previous`) or by nothing at
 * all: a zero-width space between words reads as no space once removed, and text that mixes it
 * inside and between words (`ig\u200Bnore previous\u200Binstructions`) has no reading with spaces
 * only between words. The boundaries at either end still keep a marker from starting or ending
 * inside a longer word.
 */

export interface InjectionMarker {
  readonly label: string;
  readonly pattern: string;
}

const SEP = '[^\\pL\\pN]*';
const START = '(?:^|[^\\pL\\pN])';
const END = '(?:$|[^\\pL\\pN])';

const words = (list: readonly string[]) => `(?:${list.join('|')})`;
/** Up to `max` filler words (`all of the`, `your`) between two words of a marker. */
const fillers = (list: readonly string[], max: number) => `(?:${words(list)}${SEP}){0,${max}}`;
const phrase = (...parts: string[]) => `${START}${parts.join(SEP)}${END}`;

// Verbs and nouns are kept to what injections use: `skip the previous messages` or `forget the
// previous context` is how people talk to chat tools, and every false match costs an approver's time.
const IGNORE = words(['ignore', 'disregard', 'forget', 'override', 'bypass', 'neglect']);
const FILLER = fillers(['all', 'any', 'each', 'every', 'the', 'your', 'my', 'of', 'these', 'those', 'that', 'this', 'previously', 'given'], 3);
const EARLIER = words(['previous', 'prior', 'above', 'earlier', 'preceding', 'former', 'foregoing', 'original', 'initial', 'existing']);
const ORDERS = words([
  'instructions?', 'prompts?', 'rules', 'directions', 'directives?', 'guidelines?', 'guardrails?', 'constraints?', 'polic(?:y|ies)',
  'restrictions?', 'safeguards?',
]);
const HIDDEN = words(['system', 'developer', 'hidden', 'secret', 'original', 'initial']);
const PROMPT = words(['prompts?', 'instructions?']);
const SHOW = words(['reveal', 'print', 'show', 'display', 'output', 'repeat', 'leak', 'dump', 'expose', 'recite', `tell${SEP}me`, `what${SEP}(?:is|are|was|were)`]);
const ABOVE = fillers(['all', 'everything', 'of', 'that', 'the', 'what', 'was', 'is', 'written', 'said'], 3);

export const INJECTION_MARKERS: readonly InjectionMarker[] = [
  {
    label: 'ignore previous instructions',
    pattern:
      `(?:${phrase(IGNORE, `${FILLER}${EARLIER}`, ORDERS)})` +
      `|(?:${phrase(words(['ignore', 'disregard', 'forget']), `${ABOVE}(?:above|before)`)})`,
  },
  { label: 'disregard the system prompt', pattern: phrase(IGNORE, `${FILLER}${HIDDEN}`, PROMPT) },
  {
    label: 'reveal the system prompt',
    pattern: phrase(SHOW, `${fillers(['me', 'us', 'the', 'your', 'my', 'full', 'entire', 'exact', 'whole', 'complete', 'verbatim'], 3)}${words(['system', 'developer', 'hidden', 'secret'])}`, `${words(['prompts?', 'instructions?', 'messages?'])}`),
  },
  {
    // Tokens that open or close a turn in common chat templates: text holding them tries to speak as another role.
    label: 'chat-template role marker',
    pattern: '<\\|(?:im_start|im_end|im_sep|system|user|assistant|endoftext|start_header_id|end_header_id|eot_id|begin_of_text)\\|>|\\[/?inst\\]|<</?sys>>',
  },
  {
    label: 'role override',
    pattern:
      `(?:${phrase(words([`you${SEP}are${SEP}now`, `from${SEP}now${SEP}on${SEP}you${SEP}are`, `act${SEP}as`, `pretend${SEP}(?:to${SEP}be|you${SEP}are)`, `roleplay${SEP}as`]), `(?:(?:a|an|the)${SEP})?${words(['dan', 'jailbroken', 'unrestricted', 'unfiltered', 'uncensored', 'unaligned'])}`)})` +
      `|(?:${phrase(words(['dan', 'developer', 'god', 'jailbreak', 'jailbroken', 'unrestricted', 'unfiltered', 'uncensored']), 'mode')})` +
      `|(?:${phrase('do', 'anything', 'now')})`,
  },
  {
    // "New instructions:" heads text that means to replace the operator's.
    label: 'new instructions',
    pattern: `${START}${words(['new', 'updated', 'real', 'actual', 'revised', 'overriding'])}${SEP}(?:system${SEP})?${words(['instructions?', 'prompt', 'rules', 'directives?'])}\\s*:`,
  },
];
