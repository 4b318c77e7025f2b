/**
 * The perl program behind snapshot/mount-syscall.ts: one request a line on stdin, one reply a line on stdout, in
 * order (the protocol is described there). Arguments: the mount, umount2, lgetxattr, llistxattr and setsid syscall numbers.
 * perl's `syscall` passes a string as a pointer to its buffer (so a preallocated string is an output buffer) and a
 * number as a long. Only builtins: perl-base, no modules.
 */
export const HELPER_SCRIPT = String.raw`
$| = 1;
my ($nr_mount, $nr_umount, $nr_lgetxattr, $nr_llistxattr, $nr_setsid) = map { $_ + 0 } @ARGV;
sub esc { my $p = shift; $p =~ s/([\\\x00-\x1f\x7f])/sprintf('\\%03o', ord $1)/ge; return $p }
# One file's part of getfattr -h -d -m - -e hex's dump ('' when it has no xattrs), or undef with errno set.
sub xattrs {
  my ($p) = @_;
  my $len = syscall($nr_llistxattr, $p, $_[1], 65536);
  return undef if $len < 0;
  my $entry = '';
  for my $name (grep { $_ ne '' } split /\0/, substr($_[1], 0, $len)) {
    my $vl = syscall($nr_lgetxattr, $p, $name, $_[2], 65536);
    if ($vl < 0) { next if $! == 61; return undef }
    $entry .= $name . '=0x' . unpack('H*', substr($_[2], 0, $vl)) . "\n";
  }
  return $entry eq '' ? '' : '# file: ' . esc($p) . "\n" . $entry . "\n";
}
# getfattr -R -h -d -m - -e hex's dump of the tree in cwd, or an errno (E2BIG past $limit entries).
sub xdump {
  my ($limit) = @_;
  my @stack = ('.');
  my ($out, $n) = ('', 0);
  # One pair of buffers per request: the syscalls write into them, only the first $len bytes are read.
  my ($list, $value) = ("\0" x 65536, "\0" x 65536);
  while (@stack) {
    my $p = pop @stack;
    if (++$n > $limit) { $! = 7; return undef }
    my @st = lstat $p;
    return undef unless @st;
    my $isdir = -d _;
    my $entry = xattrs($p, $list, $value);
    return undef unless defined $entry;
    $out .= $entry;
    if ($isdir) {
      opendir(my $dh, $p) or return undef;
      push @stack, map { "$p/$_" } grep { $_ ne '.' && $_ ne '..' } readdir $dh;
      closedir $dh;
    }
  }
  return $out;
}
while (my $line = <STDIN>) {
  chomp $line;
  my ($op, @f) = split / /, $line, -1;
  @f = map { pack('H*', $_) } @f;
  my $r = -1;
  $! = 22;
  if ($op eq 'M' && @f == 5) {
    my ($cwd, $src, $tgt, $type, $data) = @f;
    if (chdir $cwd) { $r = syscall($nr_mount, $src, $tgt, $type, 0, $data); my $e = $! + 0; chdir '/'; $! = $e; }
  } elsif ($op eq 'U' && @f == 2) {
    my ($tgt, $flags) = @f;
    $r = syscall($nr_umount, $tgt, $flags + 0);
  } elsif ($op eq 'L') {
    my ($dump, $list, $value) = ('', "\0" x 65536, "\0" x 65536);
    for my $p (@f) { my $entry = xattrs($p, $list, $value); if (!defined $entry) { undef $dump; last } $dump .= $entry }
    if (defined $dump) { print '0 ', unpack('H*', $dump), "\n"; next }
  } elsif ($op eq 'X' && @f == 2) {
    my ($dir, $limit) = @f;
    my $dump;
    if (chdir $dir) { $dump = xdump($limit + 0); my $e = $! + 0; chdir '/'; $! = $e; }
    if (defined $dump) { print '0 ', unpack('H*', $dump), "\n"; next }
  } elsif ($op eq 'C' && @f >= 3 && @f >= $f[0] + 3) {
    # Launch a monitor: its own session, stdio /dev/null + stderr appended to a file, a pipe as fd 3 (read here up
    # to its first '}' or its end, the reply). Forked twice, so it is never our zombie.
    my @env = splice(@f, 1, $f[0]);
    my (undef, $err, $prog, @args) = @f;
    my ($rd, $wr);
    if (pipe($rd, $wr)) {
      my $mid = fork;
      if (defined $mid && $mid == 0) {
        my $kid = fork;
        exit(defined $kid ? 0 : 1) if !defined $kid || $kid != 0;
        syscall($nr_setsid);
        close $rd;
        # fd 3 must survive exec: a dup made with $^F = 3 has no close-on-exec (F_SETFD 0 if the pipe is 3 itself).
        $^F = 3;
        my $sync;
        if (fileno($wr) == 3) { $sync = $wr; fcntl($sync, 2, 0) or exit 126 }
        else { open($sync, '>&', $wr) or exit 126; close $wr }
        exit 126 unless fileno($sync) == 3;
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>', '/dev/null');
        open(STDERR, '>>', $err) or open(STDERR, '>', '/dev/null');
        %ENV = map { split /=/, $_, 2 } @env;
        exec { $prog } $prog, @args;
        print STDERR "cannot run $prog: $!\n";
        exit 127;
      }
      my $e = $! + 0;
      close $wr;
      if (defined $mid) {
        waitpid($mid, 0);
        my $msg = '';
        while (index($msg, '}') < 0) { my $n = sysread($rd, my $buf, 4096); last unless $n; $msg .= $buf }
        close $rd;
        print '0 ', unpack('H*', $msg), "\n";
        next;
      }
      close $rd;
      $! = $e;
    }
  }
  if ($r == 0) { print "0\n" } else { printf "%d %s\n", $! + 0, "$!" }
}
`;
