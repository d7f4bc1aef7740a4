#!/bin/sh
# Writes the rwkv(1) manual page (man(7) roff) to stdout, made from the help texts of the program
# given as $1 (default build/rwkv): `rwkv --help`, then `rwkv COMMAND --help` for every command
# it lists. `make man` writes build/rwkv.1 with it; `man -l build/rwkv.1` shows it.
set -eu
bin=${1:-build/rwkv}
version=$("$bin" --version | sed 's/^rwkv //')
commands=$("$bin" --help | sed -n 's/^  \([a-z][a-z]*\) .*/\1/p')

# Help text as literal roff lines: backslashes escaped, no line starting with a control character.
text() {
    printf '.nf\n'
    sed -e 's/\\/\\e/g' -e 's/^\([.'"'"']\)/\\\&\1/'
    printf '.fi\n'
}

cat <<EOF
.TH RWKV 1 "" "rwkv $version" "User Commands"
.SH NAME
rwkv \\- run RWKV language models: generate, chat, serve, evaluate, convert, quantize, benchmark
.SH SYNOPSIS
.B rwkv
.I command
.RI [ options ]
.br
.B rwkv
.I command
.B \\-\\-help
.SH DESCRIPTION
The one program of rwkv.c, an inference engine for RWKV-4 to RWKV-7 models (.pth checkpoints,
rwkv.cpp .bin files and GGUF files). Errors are one line on stderr starting with
.BR "rwkv: error: " ;
the exit status is 0 on success, 1 for a failure while running, 2 for a bad command line and
130 when generation was interrupted by Ctrl-C.
EOF
"$bin" --help | text
printf '.SH COMMANDS\n'
for c in $commands; do
    printf '.SS %s\n' "$c"
    "$bin" "$c" --help | text
done
cat <<EOF
.SH ENVIRONMENT
.TP
.B RWKV_VOCAB
the World vocabulary file, when no
.B \\-\\-vocab
is given and the model file embeds none.
.SH FILES
.TP
.B rwkv_vocab_v20230424.txt
next to the model: the World vocabulary used when neither
.B \\-\\-vocab
nor
.B RWKV_VOCAB
names one.
.SH SEE ALSO
README.md and docs/ in the rwkv.c source tree (CHAT.md, SERVER.md, EVAL.md, FORMATS.md,
STATE_FORMAT.md).
EOF
