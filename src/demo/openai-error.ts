/**
 * Errors the demo model answers with, in OpenAI's wire shape
 * `{"error": {"message", "type", "param", "code"}}`. These are an upstream's errors, not the
 * gateway's: the gateway must see exactly what the real service would send, so they do not
 * use the GatewayError codes.
 */
export class OpenAiApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly type: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
    this.name = 'OpenAiApiError';
  }

  toJson(): string {
    return JSON.stringify({ error: { message: this.message, type: this.type, param: this.param, code: this.code } });
  }
}

const KEYS_URL = 'https://platform.openai.com/account/api-keys';

export function invalidUrl(method: string, path: string): OpenAiApiError {
  return new OpenAiApiError(404, `Invalid URL (${method} ${path})`, 'invalid_request_error');
}

export function invalidMethod(method: string, path: string): OpenAiApiError {
  return new OpenAiApiError(405, `Invalid method for URL (${method} ${path})`, 'invalid_request_error');
}

export function invalidJson(): OpenAiApiError {
  return new OpenAiApiError(
    400,
    'We could not parse the JSON body of your request. (HINT: This likely means you aren\'t using your HTTP library ' +
      'correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)',
    'invalid_request_error',
  );
}

export function missingParameter(param: string): OpenAiApiError {
  return new OpenAiApiError(400, `Missing required parameter: '${param}'.`, 'invalid_request_error', param, 'missing_required_parameter');
}

export function invalidParameter(param: string, message: string, code = 'invalid_value'): OpenAiApiError {
  return new OpenAiApiError(400, message, 'invalid_request_error', param, code);
}

/** The real service answers a missing key with code null and a wrong one with `invalid_api_key`. */
export function missingApiKey(): OpenAiApiError {
  return new OpenAiApiError(
    401,
    'You didn\'t provide an API key. You need to provide your API key in an Authorization header using Bearer auth ' +
      `(i.e. Authorization: Bearer YOUR_KEY). You can obtain an API key from ${KEYS_URL}.`,
    'invalid_request_error',
  );
}

export function incorrectApiKey(presented: string): OpenAiApiError {
  return new OpenAiApiError(
    401,
    `Incorrect API key provided: ${redactKey(presented)}. You can find your API key at ${KEYS_URL}.`,
    'invalid_request_error',
    null,
    'invalid_api_key',
  );
}

export function modelNotFound(model: string): OpenAiApiError {
  return new OpenAiApiError(
    404,
    `The model '${model}' does not exist or you do not have access to it.`,
    'invalid_request_error',
    'model',
    'model_not_found',
  );
}

export function rateLimited(model: string, retryAfterSeconds: number): OpenAiApiError {
  return new OpenAiApiError(
    429,
    `Rate limit reached for ${model} on requests per min (RPM): Limit 60, Used 60, Requested 1. ` +
      `Please try again in ${retryAfterSeconds}s.`,
    'requests',
    null,
    'rate_limit_exceeded',
    {
      'retry-after': String(retryAfterSeconds),
      'x-ratelimit-limit-requests': '60',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': `${retryAfterSeconds}s`,
    },
  );
}

export function serverError(): OpenAiApiError {
  return new OpenAiApiError(500, 'The server had an error while processing your request. Sorry about that!', 'server_error');
}

/** Like the real service: enough of a wrong key to recognise it, never the whole key. */
function redactKey(key: string): string {
  if (key.length <= 8) return '*'.repeat(key.length);
  return `${key.slice(0, 3)}${'*'.repeat(key.length - 7)}${key.slice(-4)}`;
}
