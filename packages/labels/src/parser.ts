/**
 * The selector string syntax, lexed and parsed exactly as apimachinery `labels.Parse` does:
 *
 * ```
 * <selector>    ::= <requirement> | <requirement> "," <selector>
 * <requirement> ::= [!] KEY [ <set-based> | <exact-match> ]
 * <set-based>   ::= "" | ("in" | "notin") "(" VALUE { "," VALUE } ")"
 * <exact-match> ::= ("=" | "==" | "!=" | ">" | "<") VALUE
 * ```
 *
 * Whitespace is only space, tab, CR and LF. Empty values are allowed (`x=`, `x in ()`,
 * `x in (a,)`). A NUL character at the start of a token ends the input, as in Go.
 * Every token records its position so errors can say where they are.
 */
import { describeReceived, SelectorSyntaxError, SelectorValidationError, type SelectorIssue } from './errors.js';
import { compareBytewise } from './labels.js';
import {
  binaryOperators,
  checkRequirement,
  fieldIssue,
  problemField,
  RequirementImpl,
  type Operator,
  type Requirement,
} from './requirement.js';
import { selectorOf, sortRequirements, type Selector } from './selector.js';

type TokenKind = 'eos' | ')' | ',' | '!' | '==' | '=' | '>' | 'id' | 'in' | '<' | '!=' | 'notin' | '(';

interface Token {
  readonly kind: TokenKind;
  readonly text: string;
  readonly position: number;
}

const literalTokens: ReadonlyMap<string, TokenKind> = new Map<string, TokenKind>([
  [')', ')'],
  [',', ','],
  ['!', '!'],
  ['==', '=='],
  ['=', '='],
  ['>', '>'],
  ['in', 'in'],
  ['<', '<'],
  ['!=', '!='],
  ['notin', 'notin'],
  ['(', '('],
]);

function isWhitespace(ch: number): boolean {
  return ch === 0x20 || ch === 0x09 || ch === 0x0d || ch === 0x0a;
}

function isSpecialSymbol(ch: number): boolean {
  // = ! ( ) , > <
  return ch === 0x3d || ch === 0x21 || ch === 0x28 || ch === 0x29 || ch === 0x2c || ch === 0x3e || ch === 0x3c;
}

/** Splits `text` into tokens, ending with an `eos` token (Kubernetes' `Lexer`). */
export function lex(text: string): Token[] {
  const length = text.length;
  const tokens: Token[] = [];
  let pos = 0;
  for (;;) {
    while (pos < length && isWhitespace(text.charCodeAt(pos))) pos++;
    // Go reads a 0 byte at the end and for a NUL; either ends the input here.
    if (pos >= length || text.charCodeAt(pos) === 0) {
      tokens.push({ kind: 'eos', text: '', position: pos });
      return tokens;
    }
    const start = pos;
    let end = pos;
    let kind: TokenKind;
    if (isSpecialSymbol(text.charCodeAt(pos))) {
      // The longest operator: "!=" and "==" are the only two-character ones.
      end = pos + 1;
      if (end < length && text.charCodeAt(end) === 0x3d && (text.charCodeAt(pos) === 0x21 || text.charCodeAt(pos) === 0x3d)) {
        end++;
      }
      kind = literalTokens.get(text.slice(start, end))!;
    } else {
      while (end < length) {
        const c = text.charCodeAt(end);
        if (c === 0 || isSpecialSymbol(c) || isWhitespace(c)) break;
        end++;
      }
      kind = literalTokens.get(text.slice(start, end)) ?? 'id';
    }
    tokens.push({ kind, text: text.slice(start, end), position: start });
    // Go's scanners read one character past a token and put it back, except a NUL, which
    // they consume: a NUL right after a token is skipped.
    pos = end < length && text.charCodeAt(end) === 0 ? end + 1 : end;
  }
}

/** Internal: unwinds the parser to the first syntax error. */
class SyntaxFailure extends Error {
  constructor(
    readonly token: Token,
    readonly expected: string,
    readonly kubernetesMessage: string,
  ) {
    super(kubernetesMessage);
  }
}

interface ParsedRequirement {
  readonly key: string;
  readonly keyPosition: number;
  readonly operator: Operator;
  /** Sorted, without duplicates (Kubernetes builds a string set). */
  readonly values: readonly string[];
  /** Position of the first occurrence of each value. */
  readonly valuePositions: ReadonlyMap<string, number>;
}

type Context = 'keyAndOperator' | 'values';

class Parser {
  readonly #tokens: Token[];
  #index = 0;

  constructor(text: string) {
    this.#tokens = lex(text);
  }

  /** In the values context, `in` and `notin` are plain identifiers. */
  #kind(token: Token, context: Context): TokenKind {
    if (context === 'values' && (token.kind === 'in' || token.kind === 'notin')) return 'id';
    return token.kind;
  }

  #lookahead(context: Context): [TokenKind, Token] {
    const token = this.#tokens[this.#index]!;
    return [this.#kind(token, context), token];
  }

  #consume(context: Context): [TokenKind, Token] {
    const token = this.#tokens[this.#index]!;
    this.#index++;
    return [this.#kind(token, context), token];
  }

  parse(): ParsedRequirement[] {
    const requirements: ParsedRequirement[] = [];
    for (;;) {
      const [kind, token] = this.#lookahead('values');
      switch (kind) {
        case 'id':
        case '!': {
          requirements.push(this.#parseRequirement());
          const [next, nextToken] = this.#consume('values');
          if (next === 'eos') return requirements;
          if (next === ',') {
            const [after, afterToken] = this.#lookahead('values');
            if (after !== 'id' && after !== '!') {
              throw new SyntaxFailure(afterToken, "identifier after ','", `found '${afterToken.text}', expected: identifier after ','`);
            }
            break;
          }
          throw new SyntaxFailure(nextToken, "',' or end of string", `found '${nextToken.text}', expected: ',' or 'end of string'`);
        }
        case 'eos':
          return requirements;
        default:
          throw new SyntaxFailure(
            token,
            '!, identifier, or end of string',
            `found '${token.text}', expected: !, identifier, or 'end of string'`,
          );
      }
    }
  }

  #requirementFailure(token: Token, expected: string, kubernetesDetail: string): SyntaxFailure {
    return new SyntaxFailure(token, expected, `unable to parse requirement: ${kubernetesDetail}`);
  }

  #parseRequirement(): ParsedRequirement {
    let [kind, token] = this.#consume('values');
    let doesNotExist = false;
    if (kind === '!') {
      doesNotExist = true;
      [kind, token] = this.#consume('values');
    }
    if (kind !== 'id') {
      throw this.#requirementFailure(token, 'identifier', `found '${token.text}', expected: identifier`);
    }
    const key = token.text;
    const keyPosition = token.position;
    const [after] = this.#lookahead('values');
    if (doesNotExist || after === 'eos' || after === ',') {
      return { key, keyPosition, operator: doesNotExist ? '!' : 'exists', values: [], valuePositions: new Map() };
    }
    const operator = this.#parseOperator();
    const valuePositions = new Map<string, number>();
    if (operator === 'in' || operator === 'notin') {
      this.#parseValues(valuePositions);
    } else {
      this.#parseExactValue(valuePositions);
    }
    const values = [...valuePositions.keys()].sort(compareBytewise);
    return { key, keyPosition, operator, values, valuePositions };
  }

  #parseOperator(): Operator {
    const [kind, token] = this.#consume('keyAndOperator');
    switch (kind) {
      case 'in':
        return 'in';
      case '=':
        return '=';
      case '==':
        return '==';
      case '>':
        return 'gt';
      case '<':
        return 'lt';
      case 'notin':
        return 'notin';
      case '!=':
        return '!=';
      default:
        throw this.#requirementFailure(
          token,
          binaryOperators.join(', '),
          `found '${token.text}', expected: ${binaryOperators.join(', ')}`,
        );
    }
  }

  #parseValues(values: Map<string, number>): void {
    const [kind, token] = this.#consume('values');
    if (kind !== '(') {
      throw this.#requirementFailure(token, "'('", `found '${token.text}' expected: '('`);
    }
    const [next, nextToken] = this.#lookahead('values');
    switch (next) {
      case 'id':
      case ',':
        this.#parseIdentifiersList(values);
        // The list only ends successfully in front of ')'.
        this.#consume('values');
        return;
      case ')':
        this.#consume('values');
        values.set('', nextToken.position);
        return;
      default:
        throw this.#requirementFailure(
          nextToken,
          "',', ')' or identifier",
          `found '${nextToken.text}', expected: ',', ')' or identifier`,
        );
    }
  }

  #parseIdentifiersList(values: Map<string, number>): void {
    const add = (value: string, position: number): void => {
      if (!values.has(value)) values.set(value, position);
    };
    for (;;) {
      const [kind, token] = this.#consume('values');
      switch (kind) {
        case 'id': {
          add(token.text, token.position);
          const [next, nextToken] = this.#lookahead('values');
          if (next === ',') continue;
          if (next === ')') return;
          throw this.#requirementFailure(nextToken, "',' or ')'", `found '${nextToken.text}', expected: ',' or ')'`);
        }
        case ',': {
          // An empty value before this comma when it opens the list: "(,".
          if (values.size === 0) add('', token.position);
          const [next, nextToken] = this.#lookahead('values');
          if (next === ')') {
            add('', nextToken.position);
            return;
          }
          if (next === ',') add('', nextToken.position);
          continue;
        }
        default:
          throw this.#requirementFailure(token, "',' or identifier", `found '${token.text}', expected: ',', or identifier`);
      }
    }
  }

  #parseExactValue(values: Map<string, number>): void {
    const [next, nextToken] = this.#lookahead('values');
    if (next === 'eos' || next === ',') {
      values.set('', nextToken.position);
      return;
    }
    const [kind, token] = this.#consume('values');
    if (kind === 'id') {
      values.set(token.text, token.position);
      return;
    }
    throw this.#requirementFailure(token, 'identifier', `found '${token.text}', expected: identifier`);
  }
}

/**
 * Parses a selector (Kubernetes' `labels.Parse`), e.g.
 * `env in (prod,staging),tier!=db,!canary,version>3`.
 *
 * Values of `in`/`notin` are sorted and de-duplicated; requirements are sorted by key
 * (stably). `''` and whitespace-only text give `everything()`.
 *
 * @throws SelectorSyntaxError at the first syntax error, with its position.
 * @throws SelectorValidationError listing every invalid key and value (checked once the
 *   text is well formed).
 * @throws TypeError when `text` is not a string.
 */
export function parseSelector(text: string): Selector {
  if (typeof text !== 'string') {
    throw new TypeError(`Expected a selector string, received ${describeReceived(text)}`);
  }
  let parsed: ParsedRequirement[];
  try {
    parsed = new Parser(text).parse();
  } catch (error) {
    if (error instanceof SyntaxFailure) {
      throw new SelectorSyntaxError({
        selector: text,
        position: error.token.position,
        found: error.token.text,
        expected: error.expected,
        kubernetesMessage: error.kubernetesMessage,
      });
    }
    throw error;
  }
  const issues: SelectorIssue[] = [];
  const requirements: Requirement[] = [];
  parsed.forEach((requirement, index) => {
    const base = `requirements[${index}]`;
    for (const problem of checkRequirement(requirement.key, requirement.operator, requirement.values)) {
      const position =
        typeof problem.part === 'string'
          ? requirement.keyPosition
          : requirement.valuePositions.get(requirement.values[problem.part.valueIndex]!);
      issues.push(fieldIssue(problemField(base, problem), problem.value, problem.detail, { position }));
    }
    requirements.push(new RequirementImpl(requirement.key, requirement.operator, requirement.values));
  });
  if (issues.length > 0) throw new SelectorValidationError(issues, text);
  return selectorOf(sortRequirements(requirements));
}
