// The management API client: every call goes to /v1/... on this origin with the key from
// sessionStorage (gone when the tab closes). Errors become ApiError with the problem's words.

const STORAGE = 'switchyard.console.key';

export function key() {
  return sessionStorage.getItem(STORAGE);
}

export function setKey(value) {
  sessionStorage.setItem(STORAGE, value);
}

export function forgetKey() {
  sessionStorage.removeItem(STORAGE);
}

/** An API refusal in words: the problem's title and detail, and each invalid field. */
export class ApiError extends Error {
  constructor(status, title, detail, errors = []) {
    super(detail ? `${title}: ${detail}` : title);
    this.status = status;
    this.title = title;
    this.detail = detail;
    this.errors = errors;
  }
}

/** Calls the API; resolves to the JSON body (null for 204) or throws ApiError. */
export async function call(method, path, body) {
  const headers = { Accept: 'application/json' };
  const k = key();
  if (k) headers.Authorization = `Bearer ${k}`;
  const init = { method, headers, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'The API could not be reached', 'check the network and try again');
  }
  if (resp.status === 204) return null;
  const text = await resp.text();
  let json = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  if (!resp.ok) {
    if (json && typeof json.title === 'string') {
      throw new ApiError(resp.status, json.title, json.detail || '', json.errors || []);
    }
    throw new ApiError(resp.status, resp.statusText || 'The request failed', '');
  }
  return json;
}

export const get = (path) => call('GET', path);
export const post = (path, body) => call('POST', path, body);

/** Every item of a list, following next_cursor (at most `pages` pages of 200). */
export async function all(path, pages = 10) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < pages; i += 1) {
    const sep = path.includes('?') ? '&' : '?';
    const page = await get(`${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

/** A path segment, percent-encoded (dead letter keys hold colons). */
export const seg = (s) => encodeURIComponent(s);
