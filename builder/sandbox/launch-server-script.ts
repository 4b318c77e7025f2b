/**
 * The perl program behind sandbox/launch-server.ts: it forks the runtime's processes so that this ~75 MB Node
 * process does not (its protocol is described there). Argument: the setsid syscall number. Only builtins
 * (perl-base, no modules: POSIX alone costs 5.5 ms of start-up).
 *
 * Requests, one a line, fields after the id hex-encoded: `P id` (make the two pipes; reply `P id <fd> <fd>`, the
 * read ends Node opens through /proc/PID/fd), `L id program args…` (launch with those pipes), `D id` (drop them).
 * Each launch is forked twice: a "mid" process (reaped by the kernel: SIGCHLD is ignored here) forks the program,
 * waits for it and reports `S id pid reporter-pid` once it has exec'd (or `F id errno message` if it could not), then
 * `E id status` (the raw wait status). Lines are single writes below PIPE_BUF, so the server's and every mid's
 * replies share one pipe without mixing.
 */
export const LAUNCH_SERVER_SCRIPT = String.raw`
$| = 1;
my $nr_setsid = $ARGV[0] + 0;
# A session of its own: a Ctrl-C at the terminal must not kill the forks that report the runtime's exit (our
# process handles it and kills the container itself). It still ends at EOF on stdin, when our process is gone.
syscall($nr_setsid);
$SIG{CHLD} = 'IGNORE';
$SIG{PIPE} = 'IGNORE';
my %ready;
sub out { syswrite STDOUT, $_[0] }
sub fail { my ($id, $e) = @_; $! = $e; out(sprintf "F %s %d %s\n", $id, $e, "$!") }
sub drop { my $p = delete $ready{$_[0]}; if ($p) { close $_ for @$p } }
while (my $line = <STDIN>) {
  chomp $line;
  my ($op, $id, @f) = split / /, $line, -1;
  next unless defined $id && $id =~ /^\w+$/;
  if ($op eq 'P') {
    drop($id);
    my ($ro, $wo, $re, $we);
    if (pipe($ro, $wo) && pipe($re, $we)) { $ready{$id} = [$ro, $wo, $re, $we]; out('P ' . $id . ' ' . fileno($ro) . ' ' . fileno($re) . "\n") }
    else { fail($id, $! + 0) }
  } elsif ($op eq 'D') {
    drop($id);
  } elsif ($op eq 'L') {
    my $p = delete $ready{$id};
    @f = map { pack('H*', $_) } @f;
    if (!$p || !@f) { fail($id, 22); next }
    my ($ro, $wo, $re, $we) = @$p;
    my $mid = fork;
    if (!defined $mid) { fail($id, $! + 0); close $_ for @$p; next }
    if ($mid == 0) {
      # Another launch's pipes must not stay open here, or its output would never end.
      for my $other (values %ready) { close $_ for @$other }
      %ready = ();
      $SIG{CHLD} = 'DEFAULT';
      close $ro; close $re;
      # Close-on-exec (perl's default above fd 2): empty if the exec worked, else the errno.
      pipe(my $sr, my $sw) or do { fail($id, $! + 0); exit 0 };
      my $kid = fork;
      if (defined $kid && $kid == 0) {
        close $sr;
        syscall($nr_setsid);
        $SIG{PIPE} = 'DEFAULT';
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>&', $wo);
        open(STDERR, '>&', $we);
        close $wo; close $we;
        exec { $f[0] } @f;
        syswrite $sw, ($! + 0);
        exit 127;
      }
      my $e = $! + 0;
      close $sw; close $wo; close $we;
      if (!defined $kid) { fail($id, $e); exit 0 }
      my $errno = '';
      while (sysread($sr, my $buf, 64)) { $errno .= $buf }
      close $sr;
      if ($errno ne '') { waitpid($kid, 0); fail($id, $errno + 0); exit 0 }
      out("S $id $kid $$\n");
      waitpid($kid, 0);
      out("E $id $?\n");
      exit 0;
    }
    close $_ for @$p;
  }
}
`;
