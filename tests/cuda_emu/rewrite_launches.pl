#!/usr/bin/perl
# rewrite_launches.pl FILE.cu — prints FILE.cu with each kernel launch
#     name<<<grid, block[, shared[, stream]]>>>(args)
# turned into the CUDA emulator's call (emu_device.h)
#     kn_emu::launch_config(grid, block[, shared[, stream]]).launch("name", name, args)
# keeping every line where it was (compile errors point at the .cu file's lines).
use strict;
use warnings;

my $file = shift or die "usage: rewrite_launches.pl FILE.cu\n";
open(my $in, '<', $file) or die "rewrite_launches.pl: $file: $!\n";
local $/;
my $src = <$in>;
close $in;
my $n = 0;
$n += ($src =~ s/\b(\w+)\s*<<<(.*?)>>>\s*\(\s*\)/kn_emu::launch_config($2).launch("$1", $1)/gs);
$n += ($src =~ s/\b(\w+)\s*<<<(.*?)>>>\s*\(/kn_emu::launch_config($2).launch("$1", $1, /gs);
# NULL is an integer in C++: through the launch template it would no longer convert to a pointer
$src =~ s/\bNULL\b/nullptr/g;
die "rewrite_launches.pl: $file: a launch left unrewritten\n" if $src =~ /<<<|>>>/;
print "#line 1 \"$file\"\n", $src;
