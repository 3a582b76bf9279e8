from bench.cli import main

if __name__ == "__main__":  # not when a worker pool's process imports the main module
    raise SystemExit(main())
