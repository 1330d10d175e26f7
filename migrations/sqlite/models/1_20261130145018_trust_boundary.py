from tortoise import BaseDBAsyncClient

RUN_IN_TRANSACTION = True


async def upgrade(db: BaseDBAsyncClient) -> str:
    return """
        ALTER TABLE "users" ADD "secret_hash" VARCHAR(255);
        ALTER TABLE "users" ADD "token_version" INT NOT NULL DEFAULT 0;
        CREATE INDEX IF NOT EXISTS "idx_ledger_user_reason_ts" ON "wallet_ledger" ("user_id", "reason", "ts");"""


async def downgrade(db: BaseDBAsyncClient) -> str:
    return """
        DROP INDEX IF EXISTS "idx_ledger_user_reason_ts";
        ALTER TABLE "users" DROP COLUMN "secret_hash";
        ALTER TABLE "users" DROP COLUMN "token_version";"""


MODELS_STATE = (
    "eJztW21z2jgQ/isef0pn0kzivPa+JTnack2gQ+m105uOKmxhNDG2a4kmTC7//STZxpKxHT"
    "kJFHz+BEi7WulZvTy7EvfmNHCQR/Y6v5BPzT+Me9OHU8S+qBW7hgnDMCvmBRSOPCGJuIgo"
    "giNCI2jzhsbQI4gVOYjYEQ4pDnxW6s88jxcGNhPEvpsVzXz8c4YADVxEJyhiFf98Z8XYd9"
    "AdIvznvTnGyHPEd3NGUASwY3IZdBdGiBBmgaRq6SCwcwfi7oFUg/d8HopaUyizHosfD7uG"
    "YkLoASGrb0VS0jbEO0ftGkYSBW0D8tC1bQkliqc1BpIbvLYprlHTlDSkp1qNB6hhmiuGN0"
    "BYV5ZIbF+Ug1T3Artdn74Vsnymj4AdeLOpn8mHczoJ/IUCjpeXi3wUQYq4BRrN+NLhKyNZ"
    "Y+lqildJJhIvD0nHQWM486i01EYgKzMB6PWH4FNnCIBZY3HaDEIGB+bLnAPg8i68fmNZh4"
    "en1v7hydnx0enp8dn+GZMV/V2uOn2IO5OhFTclMOu+6/aGvEMB2z3iTYUXPAgdSCHIPJ+h"
    "L00B1QWXExgVO0BSyXmBDS/vhRTzKjekBZkfsn1vHY6YwjvgId+lE/bTOj6uAPnv88Hl+/"
    "PBDpN6pULdS6qsuO5BrLUUZXV16QKtarVY62Gd7esqzn8ylPgeVYx1ppXD2UnU9tIvW4h6"
    "BcjD7nXn0/D8+iNvfkrIT09gdT7s8BpLlM5zpTsnOX8sGjG+dIfvDf7T+NbvdQScAaFuJC"
    "xmcsNv/Cwy4YwGwA9uAXRkTNLitEhx7xRRuOzcITtpih2byj9p+STnwTb4sfN1qLgwXSM7"
    "1+dfXyluvOr33qXi0pq6vOpfsKXEz+nxjXRW8IIRtG9uYeSApZrACspkl6um1jRfAn3oCi"
    "D5iPn4EsbcddA0DCjy7fkHNDcLOHVOopJc40wW3KC5Hs02+z4ybA+yNe8YkrXXzNye8YNQ"
    "SGeEzTQH/TAwMXqfr66M2wn2kMG4tzHGEaFGhNjEYZ+sHvvG2MPuhO6ZOWev1FBBSKASP9"
    "8Jg4Q+MWjM71UBgxB4nBTm4K7Bfe9CzBoGkNY1k2i2BHTbCGgyP3Q5USLekiFN4imtbm3a"
    "Kek0EOeTIw2YT45KUeZVKshtDLWOqZyccKxJ30VRGNWc1SXqDUT/5Se4xECWIS89J3Najx"
    "+Ym0/AkyPTOjg6PTo7PDlanJSLkqoDMj0M5TlNQmYBAX481olqlhQbMY/XEd/I8NsR4uBw"
    "urmEfXW6QNVsUwYbnTKQooqablY1WzdvnJs3JFsxgLcf2Wh4Y2ZBqkKu3q3KU0TwFoSJ5J"
    "rvAvWvfBYdBLQq3s6F9mEU2KxRpHXbmJnI1LQtjQJnDsgEWscn9WzJiuXW2jzCRuYRSDCL"
    "7FrXK5lGI8iTGgQcWhpBwKFVGgTwKpUshXDuBbBgjpezVEmlERCvm58S7PoshorqTWtZqQ"
    "m3Hu2d4abN9W1ghsrWJZMIzeyFovOk3MWTPLqfd+f+sw/mF8tW5PiR7oaUU2velvTyCbdf"
    "KMKssSJCGQQegn4x0rJaDuYR09s+nKtYYr9/pew/F938ifr5+qIz2DkQuDMhTCUquSGB42"
    "ciIrOliFGU71aFivwGYXOfi4reabwWrRVM/V8iqWdu2Jv92O/3Arx6KjmCHvSLAtGqVICk"
    "tNVUYy05ACk+QnaEKJhAMqkVIalqzSMkq4mRghvkA0Yx+KZfY3Ne0tvqGf6svbkG6chw95"
    "DjxmQgt58kem8/DJAHaTG4CZ34Aj0P0atFS9sZi2alyQJ8WCU1UzAroGh5TMup2q2QBJkj"
    "10/ZeHeIDnGLO5n8raNGel8yFCFI4slY32SsW225TcBvZAKeTfuiNwxVDliorO9IaIgblv"
    "gmgGNaeEo8zjoz1dYNT3ZDtunpP0hLNRpxN6Iy0IP9fQ0GyqRKGaioUzEueFauC3aBakv7"
    "az27rJc2ULWaB/WBdaYzv62z8vnN6/K3UPVvoNrbp42/fSrNupUezOVJt60+kl82dlYBXk"
    "b3bRAh7Pof0FyA3GU9Ksmx5XLuWwZuWXC8Gz8nS8MkeVKxsbMRo/g+ZMAm+KB7OYwDq/Vf"
    "gZyjCNsTsyDCTmp2q2JrmMmsMqhu7ynWeU9RmmQsJxzl+cUm0OmVMDu+qGognIg3EN2VBC"
    "vMIkVFf1H661O/V/KngkwlT+mwTY1/DQ+TbTz+K8DlYCg8bunZXP6FXI6g8QZ++9/WH/4D"
    "FxuA0w=="
)
