# Bash completion for rwkv: `source tools/cli/completion.bash` (or install it as
# /usr/share/bash-completion/completions/rwkv). Commands come from `rwkv --help` and each
# command's options from `rwkv COMMAND --help`, so the completion follows the program it runs;
# file names after the options whose help says FILE and for positional arguments; the values of
# --type (convert, quantize), --dtype, --shape and --arch (init), and eval's tasks.

_rwkv() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]} prog=${COMP_WORDS[0]}
    COMPREPLY=()
    if [ "$COMP_CWORD" -eq 1 ]; then
        local cmds
        cmds=$("$prog" --help 2>/dev/null | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p')
        COMPREPLY=($(compgen -W "$cmds --help --version" -- "$cur"))
        return 0
    fi
    local cmd=${COMP_WORDS[1]}
    if [ "$cmd" = eval ] && [ "$COMP_CWORD" -eq 2 ]; then
        COMPREPLY=($(compgen -W "perplexity lambada --help" -- "$cur"))
        return 0
    fi
    local values=
    case $cmd:$prev in
        convert:--type | convert:-t | quantize:--type | quantize:-t)
            values="f32 f16 bf16 int8 q8_0 nf4 q4_0 q4_1 q5_0 q5_1" ;;
        init:--dtype | init:-d) values="fp16 bf16 fp32" ;;
        init:--shape | init:-s) values="0.1b 0.4b 1.5b 2.9b L12C768" ;;
        init:--arch) values="7 6" ;;
    esac
    if [ -n "$values" ]; then
        COMPREPLY=($(compgen -W "$values" -- "$cur"))
        return 0
    fi
    local help
    if [ "$cmd" = eval ]; then
        help=$("$prog" eval "${COMP_WORDS[2]}" --help 2>/dev/null)
    else
        help=$("$prog" "$cmd" --help 2>/dev/null)
    fi
    # the option before the word takes a file: its help line names FILE
    case $prev in
        -[a-zA-Z] | --[a-zA-Z]*)
            if printf '%s\n' "$help" | grep -E -- "(^|[ ,[(|])$prev([ ,=]|\$)" | grep -q 'FILE'; then
                compopt -o filenames 2>/dev/null
                COMPREPLY=($(compgen -f -- "$cur"))
                return 0
            fi ;;
    esac
    if [[ $cur == -* ]]; then
        local opts
        opts=$(printf '%s\n' "$help" | grep -oE -- '(^|[ ,[(|])--?[a-zA-Z][a-zA-Z0-9-]*' |
               sed 's/^[ ,[(|]//' | sort -u)
        COMPREPLY=($(compgen -W "$opts --help" -- "$cur"))
        return 0
    fi
    compopt -o filenames 2>/dev/null
    COMPREPLY=($(compgen -f -- "$cur"))
}

complete -F _rwkv rwkv
