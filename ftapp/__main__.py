from ftapp.cli import main
import sys
sys.exit(main())
