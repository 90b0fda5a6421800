#!/usr/bin/perl
# test/fuzz/gen.pl: generate documents for feast_push (and, later, for
# feast_get_online_features), each with the outcome it must have.
#
#   perl test/fuzz/gen.pl SEED COUNT > docs.copy
#
# Output is COPY text format: id, target, arg, expect, nrows, doc.
#   target  push (feast_push(source, doc, arg)) or online
#           (feast_get_online_features(features => arg, entity_rows => doc): nrows values each)
#   expect  ok        the call must succeed and return nrows
#           bad:N     it must fail naming row N ("row N: ...")
#           bad       it must fail (column form, or the document's shape)
#           any       success or a clean failure (an edge the generator does not decide)
# The same SEED always gives the same documents.  The store they target is
# created by test/fuzz/schema.sql.
use strict;
use warnings;

my ($seed, $count) = @ARGV;
die "usage: gen.pl SEED COUNT\n" unless defined $count;
srand($seed);

# the push source's fields: name, dtype, role (key, ts, created, feature)
my @FIELDS = (
	[ 'driver_id', 'int64', 'key' ],
	[ 'rider_id', 'string', 'key' ],
	[ 'event_timestamp', 'unix_timestamp', 'ts' ],
	[ 'created_timestamp', 'unix_timestamp', 'created' ],
	[ 'f_i32', 'int32', 'feature' ],
	[ 'f_i64', 'int64', 'feature' ],
	[ 'f_f32', 'float32', 'feature' ],
	[ 'f_f64', 'float64', 'feature' ],
	[ 'f_str', 'string', 'feature' ],
	[ 'f_bytes', 'bytes', 'feature' ],
	[ 'f_bool', 'bool', 'feature' ],
	[ 'f_ts', 'unix_timestamp', 'feature' ],
	[ 'f_json', 'json', 'feature' ],
	[ 'f_arr', 'array(int64)', 'feature' ],
	[ 'f_farr', 'array(float32)', 'feature' ],
	[ 'f_sarr', 'array(string)', 'feature' ],
);

sub pick { return $_[ int(rand(@_)) ] }
sub chance { return rand() < $_[0] }

sub jstr
{
	my ($s) = @_;
	$s =~ s/(["\\])/\\$1/g;
	$s =~ s/\n/\\n/g;
	$s =~ s/\t/\\t/g;
	$s =~ s/([\x00-\x1f])/sprintf('\\u%04x', ord($1))/ge;
	return qq{"$s"};
}

our $in_array = 0;    # no long strings inside arrays: documents stay a few MB at most

sub rand_string
{
	my $kind = int(rand(10));
	return '' if $kind == 0;
	return 'x' x (1 + int(rand(chance(0.02) ? 300_000 : 2_000))) if $kind == 1 && !$in_array && chance(0.2);
	return join('', map { pick('a' .. 'z', ' ', '"', '\\', "\n", "\t", '/', "'", ';') } 1 .. 1 + int(rand(30))) if $kind < 5;
	return "\x{e9}t\x{e9} \x{1f600}" if $kind == 5;
	return pick('NaN', 'Infinity', 'null', 'true', '1', '1e400', '2026-01-01', 'AAEC/w==');
}

# a valid JSON text for a dtype
sub valid
{
	my ($t, $field) = @_;
	if ($t =~ /^array\((.*)\)$/)
	{
		my $et = $1;
		my $n = chance(0.02) ? int(rand(5000)) : int(rand(6));
		local $in_array = 1;
		return '[' . join(',', map { chance(0.1) ? 'null' : valid($et) } 1 .. $n) . ']';
	}
	return pick(0, 1, -1, 2147483647, -2147483648, int(rand(1000))) if $t eq 'int32';
	if ($t eq 'int64')
	{
		return int(rand(20)) if defined $field && $field eq 'driver_id';    # few keys: rows collide
		return pick(0, 9223372036854775807, '-9223372036854775808', int(rand(1e9)), '1e3', '-0');
	}
	return pick('0.5', '-1.25e-3', '3.4e38', '1e-45', '"NaN"', '"Infinity"', '"-Infinity"', '0', '100') if $t eq 'float32';
	return pick('0.1', '-1.7976931348623157e308', '5e-324', '"NaN"', '"-Infinity"', '1e100', '12345678901234567890') if $t eq 'float64';
	if ($t eq 'string')
	{
		return jstr(pick('a', 'b', 'c')) if defined $field && $field eq 'rider_id';
		return jstr(rand_string());
	}
	return jstr(pick('', 'AAEC/w==', 'aGVsbG8=', 'YQ==')) if $t eq 'bytes';
	return pick('true', 'false') if $t eq 'bool';
	if ($t eq 'unix_timestamp')
	{
		return pick('"2026-01-01T00:00:00Z"', '"2026-01-01 12:00:00.123456+02:00"', '"2026-01-02"',
			'0', '1767225600', '1767225600.5', '"1999-12-31T23:59:59"', '-1');
	}
	if ($t eq 'json')
	{
		return pick('null', '1', '"s"', '{}', '[]', '{"a": [1, {"b": null}]}', '1e400', '"\u00e9"')
		  unless chance(0.05);
		my $d = 1 + int(rand(500));
		return ('[' x $d) . '1' . (']' x $d);
	}
	die "unknown dtype $t";
}

# a value that is wrong for the dtype: (json text, verdict bad|any)
sub invalid
{
	my ($t) = @_;
	my @common = ('{}', '{"a": 1}', '[[1]]');
	if ($t =~ /^array\((.*)\)$/)
	{
		my $et = $1;
		my ($bad) = invalid($et);
		return (pick('1', '"[1]"', '{}', 'true'), 'bad') if chance(0.3);
		return ('[' . valid($et) . ',' . $bad . ']', 'bad') if $bad ne 'null';
		return ('[[' . valid($et) . ']]', 'bad');
	}
	return (pick('2147483648', '-2147483649', '1.5', '"1"', 'true', '1e10', '0.1', @common), 'bad') if $t eq 'int32';
	return (pick('9223372036854775808', '-9223372036854775809', '1e19', '1.0000001', '"5"', 'false', '1e-400', @common), 'bad')
	  if $t eq 'int64';
	return (pick('3.5e38', '-1e39', '"abc"', '"nan"', 'true', '"1.5"', '1e-400', @common), 'bad') if $t eq 'float32';
	return (pick('1e309', '-1e400', '"abc"', 'true', '"0.5"', '1e-400', @common), 'bad') if $t eq 'float64';
	return (pick('1', 'true', '1.5', '[]', '["a"]', @common), 'bad') if $t eq 'string';
	if ($t eq 'bytes')
	{
		return (pick('"===="', '"AA=A"'), 'any') if chance(0.2);
		return (pick('"not base64!"', '"AAE"', '1', 'true', @common), 'bad');
	}
	return (pick('1', '0', '"true"', '"t"', @common), 'bad') if $t eq 'bool';
	if ($t eq 'unix_timestamp')
	{
		return ('1e12', 'any') if chance(0.1);    # the year 33658
		# PostgreSQL's own words are not ISO-8601: "now", "infinity", ...
		return (pick('"2026-13-01"', '1e20', '"2026-01-01T25:00:00"', 'true', '1e400', '"x"', '"yesterday"', '"now"',
			'"infinity"', '"12:00"', '""', @common), 'bad');
	}
	return ('1', 'any') if $t eq 'json';    # anything is valid JSON
	die "unknown dtype $t";
}

# one row as [ [name, json text], ... ] and the verdict of its worst mutation
sub make_row
{
	my ($mutate) = @_;
	my @pairs;
	my $verdict = 'ok';
	for my $f (@FIELDS)
	{
		my ($name, $t, $role) = @$f;
		next if $role eq 'created' && chance(0.5);    # optional
		my $v = valid($t, $name);
		if ($mutate && chance(0.15))
		{
			my $m = int(rand(4));
			if ($m == 0)                               # null
			{
				$v = 'null';
				$verdict = 'bad' if $role eq 'key' || $role eq 'ts';
			}
			elsif ($m == 1)                            # missing
			{
				next if $role eq 'created';
				$verdict = 'bad';
				next;
			}
			else
			{
				my $how;
				($v, $how) = invalid($t);
				$verdict = $how if $verdict ne 'bad';
			}
		}
		push @pairs, [ $name, $v ];
	}
	if ($mutate && chance(0.05))
	{
		push @pairs, [ pick('unknown', 'Driver_Id', "f_str\"; --", 'f_i32 ', "\x{e9}", ''), '1' ];
		$verdict = 'bad';
	}
	@pairs = reverse @pairs if chance(0.3);
	return (\@pairs, $verdict);
}

sub row_json
{
	my ($pairs) = @_;
	return '{' . join(', ', map { jstr($_->[0]) . ': ' . $_->[1] } @$pairs) . '}';
}

# the documents
sub doc_rows
{
	my $n = chance(0.03) ? int(rand(200)) : int(rand(6));
	my $mutate = chance(0.6);
	my ($first_bad, @rows);
	for my $r (0 .. $n - 1)
	{
		my ($pairs, $verdict) = make_row($mutate);
		if ($mutate && chance(0.03))    # a row that is not an object
		{
			push @rows, pick('1', 'null', '[]', '"row"', '[{"driver_id": 1}]');
			$first_bad //= "bad:$r";
			next;
		}
		push @rows, row_json($pairs);
		$first_bad //= "bad:$r" if $verdict eq 'bad';
		$first_bad //= 'any' if $verdict eq 'any';
	}
	return ('[' . join(', ', @rows) . ']', $first_bad // 'ok', $n);
}

sub doc_columns
{
	my $n = int(rand(6));
	my $mutate = chance(0.6);
	my $verdict = 'ok';
	my @cols;
	for my $f (@FIELDS)
	{
		my ($name, $t, $role) = @$f;
		next if $role eq 'created' && chance(0.5);
		my @vals = map { valid($t, $name) } 1 .. $n;
		if ($mutate && chance(0.1))
		{
			my $m = int(rand(4));
			if ($m == 0 && $n > 0)
			{
				my ($bad, $how) = invalid($t);
				$vals[ int(rand($n)) ] = $bad;
				$verdict = 'bad' if $how eq 'bad';
				$verdict = 'any' if $how eq 'any' && $verdict eq 'ok';
			}
			elsif ($m == 1)    # one value too many or too few
			{
				if ($n > 0 || chance(0.5))
				{
					push @vals, valid($t, $name);
					$verdict = 'bad';
				}
			}
			elsif ($m == 2)    # not an array
			{
				push @cols, jstr($name) . ': ' . ($n ? $vals[0] : '1');
				$verdict = 'bad';
				next;
			}
			else               # missing
			{
				$verdict = 'bad' unless $role eq 'created';
				next;
			}
		}
		push @cols, jstr($name) . ': [' . join(', ', @vals) . ']';
	}
	return ('{' . join(', ', @cols) . '}', $verdict, $n);
}

sub doc_odd
{
	my $k = int(rand(9));
	return (pick('1', '"rows"', 'true', 'null', '1e400'), 'bad', 0) if $k == 0;
	return ('[]', 'ok', 0) if $k == 1;
	return ('{}', 'bad', 0) if $k == 2;    # no fields: every required one is missing
	if ($k == 3)                           # truncated
	{
		my ($doc) = doc_rows();
		return (substr($doc, 0, int(rand(length($doc)))), 'any', 0);
	}
	if ($k == 4)                           # deep nesting
	{
		my $d = 1 + int(rand(2000));
		return (('[' x $d) . (']' x $d), 'bad', 0);
	}
	if ($k == 5)                           # invalid escapes and bytes
	{
		return (pick('[{"f_str": "\u0000"}]', '["\ud800"]', '[{"f_str": "\x"}]', "[\"\xff\xfe\"]", '[{"a":1,}]'), 'any', 0);
	}
	if ($k == 6)                           # mixed forms
	{
		my ($row) = doc_rows();
		my ($col) = doc_columns();
		return (pick("[$col]", "{\"rows\": $row}", "[$row]"), 'bad', 0);
	}
	if ($k == 7)                           # nulls everywhere
	{
		my @names = map { $_->[0] } @FIELDS;
		return ('[{' . join(', ', map { jstr($_) . ': null' } @names) . '}]', 'bad:0', 1) if chance(0.5);
		return ('{' . join(', ', map { jstr($_) . ': null' } @names) . '}', 'bad', 0);
	}
	return ('[' . join(', ', ('{}') x (1 + int(rand(3)))) . ']', 'bad:0', 0);
}

# entity rows for feast_get_online_features: join keys driver_id (int64) and rider_id (string)
my @KEYS = ([ 'driver_id', 'int64' ], [ 'rider_id', 'string' ]);

sub entity_key
{
	my ($t, $mutate, $verdict) = @_;
	return (valid($t, $t eq 'int64' ? 'driver_id' : 'rider_id'), $verdict) unless $mutate && chance(0.2);
	return ('null', 'bad') if chance(0.3);
	my ($bad, $how) = invalid($t);
	return ($bad, $how eq 'bad' ? 'bad' : $verdict);
}

sub doc_entities
{
	my $mutate = chance(0.5);
	my $n = chance(0.05) ? int(rand(2000)) : int(rand(6));
	if (chance(0.7))    # [{"driver_id": 1, "rider_id": "a"}, ...]
	{
		my ($first_bad, @rows);
		for my $r (0 .. $n - 1)
		{
			my ($verdict, @pairs) = ('ok');
			for my $k (@KEYS)
			{
				if ($mutate && chance(0.05)) { $verdict = 'bad'; next; }    # missing
				my $v;
				($v, $verdict) = entity_key($k->[1], $mutate, $verdict);
				push @pairs, jstr($k->[0]) . ": $v";
			}
			if ($mutate && chance(0.05)) { push @pairs, '"f_i32": 1'; $verdict = 'any' if $verdict eq 'ok'; }
			if ($mutate && chance(0.03)) { push @rows, pick('1', '[]', 'null', '"x"'); $first_bad //= "bad:$r"; next; }
			push @rows, '{' . join(', ', @pairs) . '}';
			$first_bad //= "bad:$r" if $verdict eq 'bad';
			$first_bad //= 'any' if $verdict eq 'any';
		}
		return ('[' . join(', ', @rows) . ']', $n == 0 ? 'any' : $first_bad // 'ok', $n);
	}
	my ($verdict, @cols) = ('ok');    # {"driver_id": [...], "rider_id": [...]}
	for my $k (@KEYS)
	{
		my @vals = map { valid($k->[1], $k->[0]) } 1 .. $n;
		if ($mutate && chance(0.2))
		{
			my $m = int(rand(4));
			if ($m == 0 && $n) { my $v; ($v, $verdict) = entity_key($k->[1], 1, $verdict); $vals[0] = $v; }
			elsif ($m == 1) { push @vals, valid($k->[1], $k->[0]); $verdict = 'bad'; }
			elsif ($m == 2) { push @cols, jstr($k->[0]) . ': 1'; $verdict = 'bad'; next; }
			else { $verdict = 'bad'; next; }
		}
		push @cols, jstr($k->[0]) . ': [' . join(', ', @vals) . ']';
	}
	$verdict = 'any' if $verdict eq 'ok' && $n == 0;
	return ('{' . join(', ', @cols) . '}', $verdict, $n);
}

binmode(STDOUT, ':utf8');
my $ONLINE_FEATURES = '{fz_a:f_i32,fz_a:f_str,fz_b:f_bool}';
for my $id (1 .. $count)
{
	if (chance(0.25))    # feast_get_online_features(features => arg, entity_rows => doc)
	{
		my ($doc, $expect, $n) = chance(0.95) ? doc_entities() : (pick('1', 'null', '"x"', '{}', '[[1]]'), 'bad', 0);
		$expect = 'bad' if $expect eq 'bad' && $doc =~ /^\{/;
		for ($doc) { s/\\/\\\\/g; s/\n/\\n/g; s/\t/\\t/g; s/\r/\\r/g; }
		print join("\t", $id, 'online', $ONLINE_FEATURES, $expect, $n, $doc), "\n";
		next;
	}
	my $k = rand();
	my ($doc, $expect, $n) = $k < 0.65 ? doc_rows() : $k < 0.9 ? doc_columns() : doc_odd();
	# where the rows go; a bad "to" is an error of its own
	my $to = chance(0.97) ? pick('online', 'online', 'offline', 'online_and_offline') : pick('Online', 'both', '');
	if ($to !~ /^(online|offline|online_and_offline)$/)
	{
		$expect = 'bad';
	}
	$expect = 'bad' if $expect eq 'bad' && $doc =~ /^\{/;    # column form names no row
	for ($doc, $to)
	{
		s/\\/\\\\/g;
		s/\n/\\n/g;
		s/\t/\\t/g;
		s/\r/\\r/g;
	}
	print join("\t", $id, 'push', $to, $expect, $n, $doc), "\n";
}
