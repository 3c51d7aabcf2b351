// Token tables after Kubernetes' TestLexer / TestLexerSequence / TestParserLookahead.
import { describe, expect, it } from 'vitest';
import { lex } from '../src/parser.js';

const kinds = (text: string): string[] => lex(text).map((token) => token.kind);

describe('lex: single tokens', () => {
  it.each([
    ['', 'eos', ''],
    [',', ',', ','],
    ['notin', 'notin', 'notin'],
    ['in', 'in', 'in'],
    ['=', '=', '='],
    ['==', '==', '=='],
    ['>', '>', '>'],
    ['<', '<', '<'],
    ['!', '!', '!'],
    ['!=', '!=', '!='],
    ['(', '(', '('],
    [')', ')', ')'],
    // Characters that are not special are part of an identifier.
    ['~', 'id', '~'],
    ['||', 'id', '||'],
    ['inn', 'id', 'inn'],
    ['IN', 'id', 'IN'],
  ])('%j lexes as %s', (text, kind, literal) => {
    const [first] = lex(text);
    expect(first).toMatchObject({ kind, text: literal, position: 0 });
  });
});

describe('lex: sequences', () => {
  it.each([
    ['key in ( value )', ['id', 'in', '(', 'id', ')', 'eos']],
    ['key notin ( value )', ['id', 'notin', '(', 'id', ')', 'eos']],
    ['key in ( value1, value2 )', ['id', 'in', '(', 'id', ',', 'id', ')', 'eos']],
    ['key', ['id', 'eos']],
    ['!key', ['!', 'id', 'eos']],
    ['()', ['(', ')', 'eos']],
    ['x in (),y', ['id', 'in', '(', ')', ',', 'id', 'eos']],
    ['== != (), = notin', ['==', '!=', '(', ')', ',', '=', 'notin', 'eos']],
    ['key>2', ['id', '>', 'id', 'eos']],
    ['key<1', ['id', '<', 'id', 'eos']],
    // The longest operator wins, then lexing restarts: "!==" is "!=" then "=".
    ['a!==b', ['id', '!=', '=', 'id', 'eos']],
    ['a===b', ['id', '==', '=', 'id', 'eos']],
    ['a=!b', ['id', '=', '!', 'id', 'eos']],
    ['a<=b', ['id', '<', '=', 'id', 'eos']],
    ['a>=b', ['id', '>', '=', 'id', 'eos']],
    ['((', ['(', '(', 'eos']],
    // Only space, tab, CR and LF separate tokens; other whitespace is part of an identifier.
    [' \t\r\nx', ['id', 'eos']],
    ['a\vb', ['id', 'eos']],
    ['a\u00a0b', ['id', 'eos']],
    ['a b', ['id', 'id', 'eos']],
  ])('%j', (text, expected) => {
    expect(kinds(text)).toEqual(expected);
  });
});

describe('lex: positions and NUL', () => {
  it('records where every token starts', () => {
    expect(lex('app in (a,b))').map((token) => token.position)).toEqual([0, 4, 7, 8, 9, 10, 11, 12, 13]);
  });

  it('puts the end of string after trailing whitespace', () => {
    expect(lex('a  ').at(-1)).toEqual({ kind: 'eos', text: '', position: 3 });
  });

  it('ends the input at a NUL that starts a token, as Go reads a 0 byte', () => {
    expect(kinds('a, \u0000b')).toEqual(['id', ',', 'eos']);
    expect(lex('a, \u0000b').at(-1)?.position).toBe(3);
    // Right after an operator the NUL is swallowed by the operator scan instead.
    expect(kinds('a,\u0000b')).toEqual(['id', ',', 'id', 'eos']);
  });

  it('drops a NUL inside a token and lexes on after it, as Go does', () => {
    expect(lex('ab\u0000cd').map((token) => token.text)).toEqual(['ab', 'cd', '']);
    expect(lex('!\u0000x').map((token) => token.kind)).toEqual(['!', 'id', 'eos']);
  });
});
