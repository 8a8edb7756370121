from platewatch.engine.cli import main

main()
