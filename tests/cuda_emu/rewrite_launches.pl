#!/usr/bin/perl
# rewrite_launches.pl FILE.cu|FILE.cuh — prints the file as the CUDA emulator compiles it
# (emu_device.h), keeping every line where it was (compile errors point at the source's
# lines):
#  - each kernel launch
#        name<<<grid, block[, shared[, stream]]>>>(args)
#    becomes the emulator's call
#        kn_emu::launch_config(grid, block[, shared[, stream]]).launch("name", name, args)
#  - each __shared__ declaration
#        __shared__ TYPE a[N], b;
#    becomes references into the running block's own shared memory (kn_emu_shared_slot):
#        static kn_emu_shared_site kn_emu_site_LINE_a; TYPE (&a)[N] = *reinterpret_cast<TYPE (*)[N]>(
#            kn_emu_shared_slot(&kn_emu_site_LINE_a, sizeof(TYPE[N]))); (b's as TYPE &b, TYPE *)
#    so that every block has its own, as on a GPU, however the emulator interleaves them.
use strict;
use warnings;

my $file = shift or die "usage: rewrite_launches.pl FILE.cu\n";
open(my $in, '<', $file) or die "rewrite_launches.pl: $file: $!\n";
local $/;
my $src = <$in>;
close $in;
$src =~ s/\b(\w+)\s*<<<(.*?)>>>\s*\(\s*\)/kn_emu::launch_config($2).launch("$1", $1)/gs;
$src =~ s/\b(\w+)\s*<<<(.*?)>>>\s*\(/kn_emu::launch_config($2).launch("$1", $1, /gs;
# NULL is an integer in C++: through the launch template it would no longer convert to a pointer
$src =~ s/\bNULL\b/nullptr/g;
die "rewrite_launches.pl: $file: a launch left unrewritten\n" if $src =~ /<<<|>>>/;

# __shared__ declarations, on one line each (not in comments: a word `__shared__` there is
# left alone unless a declaration follows it on code's terms)
my @lines = split /\n/, $src, -1;
for my $i (0 .. $#lines) {
    my $line = $lines[$i];
    next unless $line =~ /^(\s*)__shared__\s+([^;]*);(.*)$/;
    my ($indent, $decl, $rest) = ($1, $2, $3);
    die "rewrite_launches.pl: $file:" . ($i + 1) . ": extern __shared__ is not emulated\n" if $decl =~ /^extern\b/;
    # split the declarators at commas outside brackets
    my (@parts, $depth, $cur);
    ($depth, $cur) = (0, '');
    for my $c (split //, $decl) {
        $depth++ if $c eq '[' || $c eq '(';
        $depth-- if $c eq ']' || $c eq ')';
        if ($c eq ',' && $depth == 0) { push @parts, $cur; $cur = ''; next; }
        $cur .= $c;
    }
    push @parts, $cur;
    $parts[0] =~ /^\s*(.*?\S)\s+(\w+)\s*((?:\[[^\]]*\]\s*)*)$/
        or die "rewrite_launches.pl: $file:" . ($i + 1) . ": a __shared__ declaration this script cannot read: $line\n";
    my $type = $1;
    my @decls = ([$2, $3]);
    for my $p (@parts[1 .. $#parts]) {
        $p =~ /^\s*(\w+)\s*((?:\[[^\]]*\]\s*)*)$/
            or die "rewrite_launches.pl: $file:" . ($i + 1) . ": a __shared__ declarator this script cannot read: $p\n";
        push @decls, [$1, $2];
    }
    my $out = $indent;
    for my $d (@decls) {
        my ($name, $dims) = @$d;
        $dims =~ s/\s+$//;
        my $site = "kn_emu_site_" . ($i + 1) . "_$name";
        my ($ref, $ptr) = $dims eq '' ? ("&$name", "*") : ("(&$name)$dims", "(*)$dims");
        $out .= "static kn_emu_shared_site $site; $type $ref = *reinterpret_cast<$type $ptr>("
              . "kn_emu_shared_slot(&$site, sizeof($type$dims))); ";
    }
    $lines[$i] = $out . $rest;
}
$src = join "\n", @lines;
die "rewrite_launches.pl: $file: a __shared__ declaration left unrewritten\n" if $src =~ /^\s*__shared__/m;
print "#line 1 \"$file\"\n", $src;
