# SPDX-License-Identifier: GPL-2.0
# bash completion for sluice. Commands, sub-verbs and options are read from
# the binary's own --help when completing, so new commands and flags complete
# without touching this file.

# _sluice_help BIN [CMD]: BIN's help text (of CMD).
_sluice_help() {
	"$1" ${2:+"$2"} --help 2>/dev/null
}

_sluice() {
	# shellcheck disable=SC2034 # prev is set by _init_completion
	local cur prev words cword bin cmd i verbs
	if declare -F _init_completion >/dev/null; then
		_init_completion || return
	else
		words=("${COMP_WORDS[@]}") cword=$COMP_CWORD cur=${COMP_WORDS[COMP_CWORD]}
	fi
	bin=${words[0]}
	cmd=
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-*) ;;
		*) cmd=${words[i]}; break ;;
		esac
	done

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			mapfile -t COMPREPLY < <(compgen -W "-v --verbose --version --help" -- "$cur")
		else
			mapfile -t COMPREPLY < <(compgen -W "help $(_sluice_help "$bin" |
				sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')" -- "$cur")
		fi
		return
	fi
	if [[ $cmd == help ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_sluice_help "$bin" |
			sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')" -- "$cur")
		return
	fi
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(_sluice_help "$bin" "$cmd" |
			grep -o -- '--[a-z][a-z0-9-]*' | sort -u)" -- "$cur")
		return
	fi
	# the verbs of a command with verbs ('sluice policy apply ...'), once
	verbs=$(_sluice_help "$bin" "$cmd" | sed -n "s/^ *\(Usage: \)\{0,1\}sluice $cmd \([a-z][a-z-]*\)\( .*\)\{0,1\}\$/\2/p" | sort -u)
	if [[ -n $verbs && $i -eq $((cword - 1)) ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$verbs" -- "$cur")
		return
	fi
	if declare -F _filedir >/dev/null; then
		_filedir
	else
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
	fi
}
complete -F _sluice sluice
