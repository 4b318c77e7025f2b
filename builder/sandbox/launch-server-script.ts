/**
 * The perl program behind sandbox/launch-server.ts: it forks the runtime's processes so that this ~75 MB Node
 * process does not (its protocol is described there). Argument: the setsid syscall number. Only builtins
 * (perl-base, no modules: POSIX alone costs 5.5 ms of start-up).
 *
 * Requests, one a line: `P id` (prepare a launch), `L id <hex argv…>` (run it), `D id` (drop it). At P the server
 * forks a "reporter" (reaped by the kernel: SIGCHLD is ignored here), which makes the stdout/stderr pipes and forks
 * the program's process at once: that one takes a session of its own, /dev/null and the pipes as stdio, and waits
 * on a control pipe for its argv. The reporter answers `P id <pid> <fd> <fd>` (the read ends, which our process
 * opens through /proc/<pid>/fd/N); at L the server writes the argv down the control pipe and the waiting process
 * execs it: no fork on a RUN's path, as with the sh launchers forked ahead of time. The reporter then says
 * `S id pid reporter-pid` after the exec (or `F id errno message`), waits, and says `E id status` (the raw wait
 * status). Lines are single writes below PIPE_BUF, so every process's replies share one pipe without mixing; P
 * replies may come out of request order.
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
while (my $line = <STDIN>) {
  chomp $line;
  my ($op, $id, @f) = split / /, $line, -1;
  next unless defined $id && $id =~ /^\w+$/;
  if ($op eq 'P') {
    delete $ready{$id};
    # The control pipe: the program's argv comes through it at L (EOF instead: D, or our exit).
    my ($cr, $cw);
    if (!pipe($cr, $cw)) { fail($id, $! + 0); next }
    my $mid = fork;
    if (!defined $mid) { fail($id, $! + 0); next }
    if ($mid == 0) {
      # Another launch's control pipe must not stay open here, or a discarded launch would wait for this one.
      %ready = ();
      close $cw;
      $SIG{CHLD} = 'DEFAULT';
      my ($ro, $wo, $re, $we, $sr, $sw);
      # $sw is close-on-exec (perl's default above fd 2): empty at EOF if the exec worked, else the errno, or D.
      (pipe($ro, $wo) && pipe($re, $we) && pipe($sr, $sw)) or do { fail($id, $! + 0); exit 0 };
      my $kid = fork;
      if (defined $kid && $kid == 0) {
        close $ro; close $re; close $sr;
        syscall($nr_setsid);
        $SIG{PIPE} = 'DEFAULT';
        open(STDIN, '<', '/dev/null');
        open(STDOUT, '>&', $wo);
        open(STDERR, '>&', $we);
        close $wo; close $we;
        my $argv = <$cr>;
        if (!defined $argv) { syswrite $sw, 'D'; exit 0 }
        chomp $argv;
        my @args = map { pack('H*', $_) } split / /, $argv;
        exec { $args[0] } @args if @args;
        syswrite $sw, (@args ? $! + 0 : 22);
        exit 127;
      }
      my $e = $! + 0;
      close $sw; close $wo; close $we; close $cr;
      if (!defined $kid) { fail($id, $e); exit 0 }
      # Our process opens the read ends through /proc/<this>/fd before it sends L.
      out("P $id $$ " . fileno($ro) . ' ' . fileno($re) . "\n");
      my $status = '';
      while (sysread($sr, my $buf, 64)) { $status .= $buf }
      close $sr; close $ro; close $re;
      if ($status eq 'D') { waitpid($kid, 0); exit 0 }
      if ($status ne '') { waitpid($kid, 0); fail($id, $status + 0); exit 0 }
      out("S $id $kid $$\n");
      waitpid($kid, 0);
      out("E $id $?\n");
      exit 0;
    }
    close $cr;
    $ready{$id} = $cw;
  } elsif ($op eq 'D') {
    delete $ready{$id};
  } elsif ($op eq 'L') {
    my $cw = delete $ready{$id};
    if (!$cw || !@f) { fail($id, 22); next }
    syswrite $cw, join(' ', @f) . "\n";
    close $cw;
  }
}
`;
