"""The book: the notebooks run with papermill (:mod:`.reproduce`), staged with their generated pages
(:mod:`.stage`; the narrative pages' generated parts: :mod:`.pages`, :mod:`.findings`, :mod:`.performance`,
:mod:`.protocols`; the claims page: :mod:`.ledger`; a store's banners and placeholder pages: :mod:`.banners`)
and built with Jupyter Book 1.x (:mod:`.build`)."""
