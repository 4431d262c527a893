#!/bin/sh
# ctest (label unit): runs the built postmark-worker binary and checks its
# command line: --check with the example config, a configuration error,
# --version, --help, usage errors, and that no token reaches the output.
# Arguments: the binary, the example config file.
set -u
bin=$1
example=$2
tmp=$(mktemp -d /tmp/pmw_cli_XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fails=0
token=tok-cli-test-4f2a9c

fail() {
        echo "FAIL: $*"
        fails=$((fails + 1))
}

# run NAME EXPECTED_RC ARGS...: stdout in $tmp/NAME.out, stderr in .err
run() {
        name=$1 want=$2
        shift 2
        "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"
        got=$?
        [ "$got" -eq "$want" ] ||
                fail "$name: exit $got, want $want; stderr: $(cat "$tmp/$name.err")"
}

no_token() {
        ! grep -q "$token" "$tmp/$1.out" "$tmp/$1.err" ||
                fail "$1: the token appears in the output"
}

contains() { # contains NAME out|err TEXT
        grep -qF -- "$3" "$tmp/$1.$2" || fail "$1: $2 lacks \"$3\""
}

one_line() { # one_line NAME: stderr is exactly one line
        [ "$(wc -l <"$tmp/$1.err")" -eq 1 ] ||
                fail "$1: stderr is not one line: $(cat "$tmp/$1.err")"
}

run check 0 env POSTMARK_SERVER_TOKEN=$token "$bin" -c "$example" --check
no_token check
contains check out 'token = "****";'
contains check out 'max_messages = 500;'

run check_long 0 env POSTMARK_SERVER_TOKEN=$token "$bin" \
        --config="$example" --set=batch.linger_ms=20 --set kafka.producer.sasl.password=pw-cli-secret-1 --check
contains check_long out 'linger_ms = 20;  # --set'
contains check_long out '"sasl.password=****"'
grep -q pw-cli-secret-1 "$tmp/check_long.out" && fail "check_long: password printed"

run range 2 env POSTMARK_SERVER_TOKEN=$token "$bin" --set batch.max_messages=501 --check
contains range err 'postmark-worker: batch.max_messages = 501 (from --set): out of range, allowed 1..500'
one_line range
no_token range

run no_token 2 env -u POSTMARK_SERVER_TOKEN "$bin" --check
contains no_token err 'postmark-worker: postmark.servers.default.token_env: environment variable POSTMARK_SERVER_TOKEN is not set'
one_line no_token

run kafka_prop 2 env POSTMARK_SERVER_TOKEN=$token "$bin" --set kafka.consumer.fetch.wait.max.ms=abc --check
contains kafka_prop err 'postmark-worker: kafka.consumer: fetch.wait.max.ms=abc: Invalid value'
one_line kafka_prop

run version 0 "$bin" --version
contains version out 'postmark-worker '
contains version out 'librdkafka '
contains version out 'libcurl '
contains version out 'jansson '
contains version out 'libconfig '

run help 0 "$bin" --help
for word in --config --set --check --version POSTMARK_SERVER_TOKEN \
        POSTMARK_BASE_URL POSTMARK_SSL_VERIFY KAFKA_BROKERS Precedence \
        postmark-worker.conf 'Exit codes'; do
        contains help out "$word"
done

run bad_option 2 "$bin" --bogus
contains bad_option err 'postmark-worker: unknown option "--bogus"'
# A stray word is not echoed: it may be the value of "--set KEY VALUE".
run stray_word 2 "$bin" --set kafka.producer.sasl.password pw-SECRET-1
contains stray_word err 'argument 3 is not an option'
if grep -q 'pw-SECRET-1' "$tmp/stray_word.err"; then
        echo "FAIL stray_word: the stray word was echoed"
        fails=$((fails + 1))
fi
one_line bad_option
run missing_arg 2 "$bin" -c
contains missing_arg err 'postmark-worker: -c needs an argument'

# A configuration error stops the worker before anything starts.
run bad_run 2 env POSTMARK_SERVER_TOKEN=$token "$bin" -c "$example" \
        --set workers.threads=0
contains bad_run err 'workers.threads'
no_token bad_run

if [ "$fails" -ne 0 ]; then
        echo "$fails check(s) failed"
        exit 1
fi
echo "all postmark-worker command-line checks passed"
