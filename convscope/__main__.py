try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while the command line loads: quietly, as a command does
    raise SystemExit(130) from None

main()
