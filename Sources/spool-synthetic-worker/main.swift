import SpoolSynthetic

// spool-synthetic-worker: see SyntheticWorkerProgram (SpoolSynthetic) and Pipelines/README.md.
SyntheticWorkerProgram.main(Array(CommandLine.arguments.dropFirst()))
