import sys

from serving.server.model_server import main

sys.exit(main())
