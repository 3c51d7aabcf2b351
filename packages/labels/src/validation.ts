/**
 * Label key and value validation, with Kubernetes' rules and messages
 * (apimachinery `pkg/api/validate/content`: `IsLabelKey`, `IsLabelValue`, `IsDNS1123Subdomain`).
 * Lengths are counted in UTF-8 bytes, as Go counts them; every regex anchors the whole string.
 */
import type { LabelSet } from './labels.js';
import { entriesOf } from './labels.js';

/** Maximum length of a label key's name part and of a label value, in bytes. */
export const LABEL_VALUE_MAX_LENGTH = 63;
/** Maximum length of a label key's name part, in bytes. */
export const LABEL_KEY_NAME_MAX_LENGTH = 63;
/** Maximum length of a label key's DNS subdomain prefix, in bytes. */
export const DNS1123_SUBDOMAIN_MAX_LENGTH = 253;

const labelKeyFmt = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]';
const labelKeyErrMsg =
  "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const labelKeyRegexp = new RegExp(`^${labelKeyFmt}$`);

const labelValueFmt = `(${labelKeyFmt})?`;
const labelValueErrMsg =
  "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character";
const labelValueRegexp = new RegExp(`^${labelValueFmt}$`);

const dns1123LabelFmt = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123SubdomainFmt = `${dns1123LabelFmt}(\\.${dns1123LabelFmt})*`;
const dns1123SubdomainErrMsg =
  "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
const dns1123SubdomainRegexp = new RegExp(`^${dns1123SubdomainFmt}$`);

/** Kubernetes' wording ("characters"), although the length it checks is in bytes (Go's `len`). */
function maxLenError(length: number): string {
  return `must be no more than ${length} characters`;
}

function regexError(message: string, format: string, ...examples: string[]): string {
  if (examples.length === 0) return `${message} (regex used for validation is '${format}')`;
  return `${message} (e.g. ${examples.map((example) => `'${example}', `).join(' or ')}regex used for validation is '${format}')`;
}

/** Length of `text` in UTF-8 bytes (a lone surrogate counts as the 3 bytes of U+FFFD). */
export function utf8ByteLength(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) continue;
    if (unit < 0x800) {
      bytes += 1;
    } else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        // A surrogate pair: 2 code units, 4 bytes.
        bytes += 2;
        i++;
      } else {
        bytes += 2;
      }
    } else {
      bytes += 2;
    }
  }
  return bytes;
}

function isDns1123Subdomain(value: string): string[] {
  const errors: string[] = [];
  if (utf8ByteLength(value) > DNS1123_SUBDOMAIN_MAX_LENGTH) errors.push(maxLenError(DNS1123_SUBDOMAIN_MAX_LENGTH));
  if (!dns1123SubdomainRegexp.test(value)) {
    errors.push(regexError(dns1123SubdomainErrMsg, dns1123SubdomainFmt, 'example.com'));
  }
  return errors;
}

/**
 * Validates a label key: an optional DNS subdomain prefix (at most 253 bytes, lower case) and
 * `/`, then a name of 1–63 bytes of `[A-Za-z0-9._-]` that starts and ends alphanumeric.
 *
 * @returns Kubernetes' messages (`IsQualifiedName` / `IsLabelKey`); empty when valid.
 */
export function validateLabelKey(key: string): string[] {
  if (typeof key !== 'string') return [`must be a string, received ${typeof key}`];
  const errors: string[] = [];
  const parts = key.split('/');
  let name: string;
  if (parts.length === 1) {
    name = parts[0]!;
  } else if (parts.length === 2) {
    const prefix = parts[0]!;
    name = parts[1]!;
    if (prefix.length === 0) {
      errors.push('prefix part must be non-empty');
    } else {
      for (const message of isDns1123Subdomain(prefix)) errors.push(`prefix part ${message}`);
    }
  } else {
    return [
      `a valid label key ${regexError(labelKeyErrMsg, labelKeyFmt, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`,
    ];
  }
  if (name.length === 0) {
    errors.push('name part must be non-empty');
  } else if (utf8ByteLength(name) > LABEL_KEY_NAME_MAX_LENGTH) {
    errors.push(`name part ${maxLenError(LABEL_KEY_NAME_MAX_LENGTH)}`);
  }
  if (!labelKeyRegexp.test(name)) {
    errors.push(`name part ${regexError(labelKeyErrMsg, labelKeyFmt, 'MyName', 'my.name', '123-abc')}`);
  }
  return errors;
}

/**
 * Validates a label value: empty, or 1–63 bytes of `[A-Za-z0-9._-]` that start and end
 * alphanumeric.
 *
 * @returns Kubernetes' messages (`IsValidLabelValue`); empty when valid.
 */
export function validateLabelValue(value: string): string[] {
  if (typeof value !== 'string') return [`must be a string, received ${typeof value}`];
  const errors: string[] = [];
  if (utf8ByteLength(value) > LABEL_VALUE_MAX_LENGTH) errors.push(maxLenError(LABEL_VALUE_MAX_LENGTH));
  if (!labelValueRegexp.test(value)) {
    errors.push(regexError(labelValueErrMsg, labelValueFmt, 'MyValue', 'my_value', '12345'));
  }
  return errors;
}

/**
 * Validates every key and value of a label set.
 *
 * @returns one message per problem, naming the key (e.g.
 *   `label key "a/b/c": a valid label key must consist of ...` or
 *   `label "app" value "-x": a valid label must be ...`); empty when all are valid.
 */
export function validateLabels(labels: LabelSet): string[] {
  const messages: string[] = [];
  for (const [key, value] of entriesOf(labels)) {
    for (const message of validateLabelKey(key)) messages.push(`label key ${JSON.stringify(key)}: ${message}`);
    for (const message of validateLabelValue(value)) {
      messages.push(`label ${JSON.stringify(key)} value ${JSON.stringify(value)}: ${message}`);
    }
  }
  return messages;
}
