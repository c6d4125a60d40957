from w2s_lf.cli import main

if __name__ == "__main__":
    main()
