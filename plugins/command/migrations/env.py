from ccms.migrate import run_env

run_env()
