/**
 * `flo completion bash|zsh|fish`: a completion script for the shell. Each script asks the
 * `flo` being completed (`flo __complete WORD…`, cli/complete.ts) for the candidates, so
 * completion knows every command, flag, `-o` format, kind, and the object names of the
 * current store (`--store` on the line, else `$FLO_STORE`, else ./.flotilla).
 */
import { UsageError } from '../cli/args.js';
import type { CommandModule } from '../cli/registry.js';

const BASH = `# flo completion for bash. Load it now:      source <(flo completion bash)
# or for every shell:  flo completion bash > ~/.local/share/bash-completion/completions/flo
_flo_complete() {
    local cur words cword
    if declare -F _get_comp_words_by_ref >/dev/null 2>&1; then
        _get_comp_words_by_ref -n =: cur words cword
    else
        cur="\${COMP_WORDS[COMP_CWORD]}"
        words=("\${COMP_WORDS[@]}")
        cword=$COMP_CWORD
    fi
    local out
    out=$("\${words[0]}" __complete "\${words[@]:1:cword}" 2>/dev/null) || return 0
    if [[ "$out" == ":files" ]]; then
        compopt -o filenames 2>/dev/null
        local IFS=$'\\n'
        COMPREPLY=($(compgen -f -- "$cur"))
        return 0
    fi
    local IFS=$'\\n'
    COMPREPLY=($(compgen -W "$out" -- "$cur"))
    # a kind prefix (host/, replicaset/, ...) is continued, not ended with a space
    if [[ \${#COMPREPLY[@]} -eq 1 && "\${COMPREPLY[0]}" == */ ]]; then
        compopt -o nospace 2>/dev/null
    fi
    return 0
}
complete -F _flo_complete flo
`;

const ZSH = `#compdef flo
# flo completion for zsh. Load it now:      source <(flo completion zsh)
# or for every shell:  flo completion zsh > "\${fpath[1]}/_flo"   (then compinit)
_flo() {
    local -a candidates kinds
    local out
    out=$("\${words[1]}" __complete "\${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
    if [[ "$out" == ":files" ]]; then
        _files
        return
    fi
    candidates=("\${(@f)out}")
    kinds=(\${(M)candidates:#*/})
    candidates=(\${candidates:#*/})
    # a kind prefix (host/, …) is continued, not ended with a space
    (( \${#kinds} )) && compadd -S '' -- "\${kinds[@]}"
    (( \${#candidates} )) && compadd -- "\${candidates[@]}"
    return 0
}
if [[ "\${funcstack[1]}" == _flo ]]; then
    _flo "$@"
else
    compdef _flo flo
fi
`;

const FISH = `# flo completion for fish. Load it now:      flo completion fish | source
# or for every shell:  flo completion fish > ~/.config/fish/completions/flo.fish
function __flo_complete
    set -l tokens (commandline -opc)
    set -l current (commandline -ct)
    set -l out ($tokens[1] __complete $tokens[2..-1] "$current" 2>/dev/null)
    if test "$out" = ":files"
        __fish_complete_path "$current"
        return
    end
    printf '%s\\n' $out
end
complete -c flo -f -a '(__flo_complete)'
`;

export const command: CommandModule = {
  usage: 'completion bash|zsh|fish',
  formats: ['text'], // prints no objects: -o is refused (exit 2)
  description: [
    'Prints a completion script for the shell: commands, subcommands, flags, -o formats, kinds, and object names read from',
    'the current store (--store on the line, else $FLO_STORE, else ./.flotilla; bounded by $FLO_COMPLETE_TIMEOUT seconds,',
    'default 2, so an unreachable store only means no names). Install:',
    '  bash:  source <(flo completion bash)        or  flo completion bash > ~/.local/share/bash-completion/completions/flo',
    '  zsh:   source <(flo completion zsh)         or  flo completion zsh > "${fpath[1]}/_flo"',
    '  fish:  flo completion fish | source         or  flo completion fish > ~/.config/fish/completions/flo.fish',
  ].join('\n'),
  deployOptions: false,
  subcommands: ['bash', 'zsh', 'fish'],
  async run(ctx) {
    const [shell, extra] = ctx.args.positionals;
    if (extra !== undefined) throw new UsageError(`unexpected argument ${extra}`);
    const script = shell === 'bash' ? BASH : shell === 'zsh' ? ZSH : shell === 'fish' ? FISH : undefined;
    if (script === undefined) throw new UsageError(shell === undefined ? 'completion needs a shell: bash, zsh or fish' : `completion ${shell}: expected bash, zsh or fish`);
    ctx.stdout.write(script);
    return Promise.resolve(0);
  },
};
