#!/usr/bin/env python3
"""Generate the demo directory that `em-api serve --demo` loads: scenarios/demo-directory.json.

It describes a Contoso-like organisation (tenant domain contoso.com) in the shape Microsoft Graph
returns and the engine's importer (engine/src/import.rs) reads:

- 3,000 internal users (userType "Member") in a proper manager tree rooted at the CEO
  (CEO -> department head -> director -> manager -> individual contributor), across the
  departments Sales, Marketing, Design, Engineering, Finance, HR, IT, Operations and Legal. Sales
  and Marketing are split into the regions EMEA, AMER and APAC (extensionAttribute15), each with
  its own countries, cities, languages and phone numbers;
- 60 guests (userType "Guest") from the ERP project's partners fabrikam.com, litware.com and
  adatum.com, each managed by an internal member of the ERP project;
- the groups, applications (with app roles), SharePoint sites (with site roles) and directory
  roles that the three seed scenarios (shared/scenarios.md) put into catalogs and packages, plus a
  dynamic, an on-premises synced and a distribution group that may not become catalog resources.

The people, groups, applications, sites and roles that the walkthrough names have fixed ids (the
constants below, also listed in scenarios/README.md); everything else comes from one
`random.Random(20261127)`, so the output is the same on every run. The document is checked
against the importer's rules (and a few more: a manager tree, unique addresses, disjoint regional
sales groups) before it is written.

Rerun from the repository root, with Python 3.11 or later and nothing but the standard library:

    python3 scenarios/generate_demo_directory.py

Running it twice gives byte-identical files.
"""

from __future__ import annotations

import json
import re
import unicodedata
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from random import Random

SEED = 20261127
DOMAIN = "contoso.com"
INITIAL_DOMAIN = "contoso.onmicrosoft.com"
OUTPUT = Path(__file__).resolve().parent / "demo-directory.json"

INTERNAL_USERS = 3000
GUESTS_PER_PARTNER = {"fabrikam.com": 25, "litware.com": 20, "adatum.com": 15}

# The custom directory extension (an app's `extension_<appId without dashes>_<name>` property).
OFFICE_NUMBER = "extension_c272a57b722d4eb29bfe327874ae79cb_OfficeNumber"

# ---------------------------------------------------------------------------------------------
# Fixed ids: the people, groups, applications, sites and roles the seed scenarios name.
# ---------------------------------------------------------------------------------------------

# Users named in the walkthrough.
PATTI_FERNANDEZ = "00000000-0000-0000-0000-0000000000a0"  # CEO, root of the manager tree
GERHART_MOLLER = "00000000-0000-0000-0000-0000000000a1"  # new EMEA sales representative (scenario 1)
CHRISTIE_CLINE = "00000000-0000-0000-0000-0000000000a2"  # ERP project owner and approver (scenario 2)
MEGAN_BOWEN = "00000000-0000-0000-0000-0000000000a3"  # IT administrator (Identity Governance Administrator)
DIEGO_SICILIANI = "00000000-0000-0000-0000-0000000000a4"  # head of the Design department (scenario 3)
ADELE_VANCE = "00000000-0000-0000-0000-0000000000a5"  # a regular employee who requests access
LYNNE_ROBBINS = "00000000-0000-0000-0000-0000000000a6"  # manager of Gerhart and Adele, approver

# Department heads (report to the CEO) and the regional sales directors.
ALEX_WILBER = "00000000-0000-0000-0000-0000000000b1"  # Chief Sales Officer
DEBRA_BERGER = "00000000-0000-0000-0000-0000000000b2"  # Chief Marketing Officer
ISAIAH_LANGER = "00000000-0000-0000-0000-0000000000b3"  # Chief Technology Officer (Engineering)
MIRIAM_GRAHAM = "00000000-0000-0000-0000-0000000000b4"  # Chief Financial Officer
JOHANNA_LORENZ = "00000000-0000-0000-0000-0000000000b5"  # Chief People Officer (HR)
NESTOR_WILKE = "00000000-0000-0000-0000-0000000000b6"  # Chief Information Officer (IT)
GRADY_ARCHIE = "00000000-0000-0000-0000-0000000000b7"  # Chief Operating Officer
JONI_SHERMAN = "00000000-0000-0000-0000-0000000000b8"  # General Counsel (Legal)
HENRIETTA_MUELLER = "00000000-0000-0000-0000-0000000000b9"  # Sales Director EMEA
PRADEEP_GUPTA = "00000000-0000-0000-0000-0000000000ba"  # Sales Director AMER
LEE_GU = "00000000-0000-0000-0000-0000000000bb"  # Sales Director APAC

# Guests leading each ERP partner's team (candidates for a connected organisation's external sponsor).
NORA_WHITFIELD = "00000000-0000-0000-0000-0000000000c1"  # Fabrikam
TOMAS_HERRERA = "00000000-0000-0000-0000-0000000000c2"  # Litware
MEI_TANAKA = "00000000-0000-0000-0000-0000000000c3"  # Adatum

# Groups.
G_SALES_AND_MARKETING = "00000000-0000-0000-0001-000000000001"  # Microsoft 365 group with a Team
G_MARKETING = "00000000-0000-0000-0001-000000000002"
G_SALES = "00000000-0000-0000-0001-000000000003"
G_E5_LICENSE = "00000000-0000-0000-0001-000000000004"  # "Microsoft E5 + ID Governance"
G_SALES_EMEA = "00000000-0000-0000-0001-000000000005"
G_SALES_AMER = "00000000-0000-0000-0001-000000000006"
G_SALES_APAC = "00000000-0000-0000-0001-000000000007"
G_ERP_PROJECT_TEAM = "00000000-0000-0000-0001-000000000008"  # Microsoft 365 group with a Team
G_ERP_PROJECT_APPROVERS = "00000000-0000-0000-0001-000000000009"
G_DESIGN_DEPARTMENT = "00000000-0000-0000-0001-000000000010"
G_ENGINEERING_DEPARTMENT = "00000000-0000-0000-0001-000000000011"
G_FINANCE_DEPARTMENT = "00000000-0000-0000-0001-000000000012"
G_HR_DEPARTMENT = "00000000-0000-0000-0001-000000000013"
G_IT_DEPARTMENT = "00000000-0000-0000-0001-000000000014"
G_OPERATIONS_DEPARTMENT = "00000000-0000-0000-0001-000000000015"
G_LEGAL_DEPARTMENT = "00000000-0000-0000-0001-000000000016"
G_DESIGN_MANAGERS = "00000000-0000-0000-0001-000000000017"
G_ALL_ENGINEERING_DYNAMIC = "00000000-0000-0000-0001-000000000020"  # dynamic: refused as a resource
G_FINANCE_SHARE_SYNCED = "00000000-0000-0000-0001-000000000021"  # on-premises synced: refused
G_NEWSLETTER_DISTRIBUTION = "00000000-0000-0000-0001-000000000022"  # distribution list: refused

# Applications (service principals); their appIds and app role ids are fixed too.
APP_SALESFORCE = "00000000-0000-0000-0002-000000000001"
APP_ERP_SYSTEM = "00000000-0000-0000-0002-000000000002"
APP_DESIGN_ASSET_LIBRARY = "00000000-0000-0000-0002-000000000003"  # no app roles: Default Access
APP_WORKDAY = "00000000-0000-0000-0002-000000000004"
APP_GITHUB_ENTERPRISE = "00000000-0000-0000-0002-000000000005"

# SharePoint sites.
SITE_GLOBAL_MARKETING = "00000000-0000-0000-0003-000000000001"
SITE_ERP_PROJECT = "00000000-0000-0000-0003-000000000002"
SITE_DEPARTMENT_BASE = "00000000-0000-0000-0003-0000000001"  # + two digits, one per department

# Directory roles: built-in ones use their role template id as id.
ROLE_IDENTITY_GOVERNANCE_ADMINISTRATOR = "45d8d3c5-c802-45c6-b32a-1d70b5e1e86e"
ROLE_GLOBAL_ADMINISTRATOR = "62e90394-69f5-4237-9190-012177145e10"
ROLE_USER_ADMINISTRATOR = "fe930be7-5e62-47db-91af-98c3a49a38b1"
ROLE_ERP_PROJECT_REVIEWER = "00000000-0000-0000-0004-000000000001"  # custom role (scenario 2)

# ---------------------------------------------------------------------------------------------
# Places and names.
# ---------------------------------------------------------------------------------------------

# country -> (usageLocation, preferredLanguage, calling code, mobile prefix, name pool, cities)
# cities: (city, state or None, area code)
COUNTRIES: dict[str, tuple[str, str, str, str, str, list[tuple[str, str | None, str]]]] = {
    "United States": ("US", "en-US", "+1", "", "us", [
        ("Redmond", "WA", "425"), ("Seattle", "WA", "206"), ("New York", "NY", "212"),
        ("San Francisco", "CA", "415"), ("Chicago", "IL", "312"), ("Atlanta", "GA", "404"),
        ("Dallas", "TX", "214"), ("Boston", "MA", "617")]),
    "Canada": ("CA", "en-CA", "+1", "", "ca", [
        ("Toronto", None, "416"), ("Vancouver", None, "604"), ("Montreal", None, "514")]),
    "Brazil": ("BR", "pt-BR", "+55", "9", "br", [("São Paulo", None, "11"), ("Rio de Janeiro", None, "21")]),
    "Mexico": ("MX", "es-MX", "+52", "1", "mx", [("Mexico City", None, "55"), ("Monterrey", None, "81")]),
    "Germany": ("DE", "de-DE", "+49", "170", "de", [
        ("Munich", None, "89"), ("Berlin", None, "30"), ("Frankfurt", None, "69"), ("Hamburg", None, "40")]),
    "France": ("FR", "fr-FR", "+33", "6", "fr", [("Paris", None, "1"), ("Lyon", None, "4")]),
    "United Kingdom": ("GB", "en-GB", "+44", "7700", "gb", [
        ("London", None, "20"), ("Manchester", None, "161"), ("Reading", None, "118")]),
    "Netherlands": ("NL", "nl-NL", "+31", "6", "nl", [("Amsterdam", None, "20"), ("Utrecht", None, "30")]),
    "Spain": ("ES", "es-ES", "+34", "6", "es", [("Madrid", None, "91"), ("Barcelona", None, "93")]),
    "Italy": ("IT", "it-IT", "+39", "347", "it", [("Milan", None, "02"), ("Rome", None, "06")]),
    "Sweden": ("SE", "sv-SE", "+46", "70", "se", [("Stockholm", None, "8"), ("Gothenburg", None, "31")]),
    "Poland": ("PL", "pl-PL", "+48", "501", "pl", [("Warsaw", None, "22"), ("Kraków", None, "12")]),
    "Ireland": ("IE", "en-IE", "+353", "87", "ie", [("Dublin", None, "1"), ("Cork", None, "21")]),
    "Switzerland": ("CH", "de-CH", "+41", "79", "de", [("Zurich", None, "44")]),
    "Japan": ("JP", "ja-JP", "+81", "90", "jp", [("Tokyo", None, "3"), ("Osaka", None, "6")]),
    "Australia": ("AU", "en-AU", "+61", "412", "au", [("Sydney", None, "2"), ("Melbourne", None, "3")]),
    "Singapore": ("SG", "en-SG", "+65", "9", "sg", [("Singapore", None, "6")]),
    "India": ("IN", "en-IN", "+91", "98", "in", [
        ("Bangalore", None, "80"), ("Hyderabad", None, "40"), ("Mumbai", None, "22")]),
}

REGIONS = ["EMEA", "AMER", "APAC"]
# region -> countries with weights, for Sales and Marketing teams.
REGION_COUNTRIES = {
    "EMEA": [("Germany", 22), ("United Kingdom", 18), ("France", 15), ("Netherlands", 10), ("Spain", 9),
             ("Italy", 9), ("Sweden", 6), ("Poland", 6), ("Ireland", 3), ("Switzerland", 2)],
    "AMER": [("United States", 65), ("Canada", 15), ("Brazil", 12), ("Mexico", 8)],
    "APAC": [("Japan", 30), ("Australia", 30), ("Singapore", 15), ("India", 25)],
}
REGION_SHARE = {"EMEA": 0.40, "AMER": 0.35, "APAC": 0.25}

# given names, surnames per name pool
NAMES: dict[str, tuple[list[str], list[str]]] = {
    "us": (["James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David",
            "Elizabeth", "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah",
            "Christopher", "Karen", "Daniel", "Emily", "Matthew", "Ashley", "Anthony", "Megan", "Mark",
            "Rachel", "Steven", "Amanda", "Kevin", "Nicole", "Brian", "Olivia", "Tyler", "Hannah",
            "Marcus", "Keisha", "Andre", "Tamika", "Jason", "Laura", "Eric", "Heather", "Justin", "Amber",
            "Brandon", "Danielle", "Gregory", "Stephanie", "Patrick", "Melissa", "Sean", "Rebecca", "Aaron",
            "Kimberly", "Nathan", "Victoria", "Jeffrey", "Courtney"],
           ["Smith", "Johnson", "Williams", "Brown", "Jones", "Miller", "Davis", "Wilson", "Anderson",
            "Taylor", "Thomas", "Moore", "Jackson", "Martin", "Lee", "Thompson", "White", "Harris",
            "Clark", "Lewis", "Robinson", "Walker", "Young", "Allen", "King", "Wright", "Scott", "Green",
            "Baker", "Adams", "Nelson", "Hill", "Campbell", "Mitchell", "Carter", "Roberts", "Phillips",
            "Evans", "Turner", "Parker", "Collins", "Edwards", "Stewart", "Morris", "Murphy", "Cook",
            "Rogers", "Morgan", "Peterson", "Cooper", "Reed", "Bailey", "Bell", "Howard", "Ward", "Cox",
            "Richardson", "Brooks", "Bennett", "Gray", "Hughes", "Price"]),
    "gb": (["Oliver", "Amelia", "Harry", "Isla", "George", "Ava", "Jack", "Emily", "Charlie", "Sophie",
            "Thomas", "Grace", "James", "Lily", "William", "Chloe", "Alfie", "Ella", "Henry", "Freya",
            "Edward", "Charlotte", "Samuel", "Poppy", "Joseph", "Imogen"],
           ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel",
            "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts", "Green", "Hall",
            "Wood", "Jackson", "Clarke", "Hughes", "Edwards", "Turner", "Lewis", "Harrison"]),
    "ie": (["Aoife", "Ciarán", "Niamh", "Seán", "Siobhán", "Conor", "Saoirse", "Darragh", "Róisín",
            "Cian", "Orla", "Eoin", "Aisling", "Declan", "Caoimhe", "Fionn", "Gráinne", "Oisín"],
           ["Murphy", "Kelly", "O'Sullivan", "Walsh", "O'Brien", "Byrne", "Ryan", "O'Connor", "O'Neill",
            "Doyle", "McCarthy", "Gallagher", "Doherty", "Kennedy", "Lynch", "Murray", "Quinn", "Moore"]),
    "de": (["Lukas", "Jonas", "Leon", "Felix", "Maximilian", "Paul", "Tobias", "Stefan", "Andreas",
            "Michael", "Thomas", "Markus", "Jan", "Florian", "Sebastian", "Anna", "Lena", "Laura", "Julia",
            "Sarah", "Katharina", "Sophie", "Hannah", "Lea", "Claudia", "Sabine", "Petra", "Nicole",
            "Jürgen", "Jörg"],
           ["Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz",
            "Hoffmann", "Schäfer", "Koch", "Bauer", "Richter", "Klein", "Wolf", "Schröder", "Neumann",
            "Schwarz", "Zimmermann", "Braun", "Krüger", "Hofmann", "Hartmann", "Lange", "Werner",
            "Krause", "Lehmann", "Köhler", "Maier", "Weiß", "Groß"]),
    "fr": (["Louis", "Emma", "Gabriel", "Jade", "Léo", "Louise", "Raphaël", "Alice", "Arthur", "Chloé",
            "Hugo", "Léa", "Jules", "Manon", "Lucas", "Camille", "Nathan", "Inès", "Théo", "Juliette",
            "Jean-Pierre", "Marie-Claire"],
           ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
            "Moreau", "Simon", "Laurent", "Lefèvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
            "Vincent", "Fournier", "Girard", "Bonnet"]),
    "nl": (["Daan", "Emma", "Sem", "Julia", "Lucas", "Mila", "Levi", "Tess", "Finn", "Sophie", "Bram",
            "Fleur", "Thijs", "Sanne", "Ruben", "Lotte", "Jesse", "Anouk", "Lars", "Femke", "Niels", "Eva"],
           ["de Jong", "Jansen", "de Vries", "van den Berg", "van Dijk", "Bakker", "Janssen", "Visser",
            "Smit", "Meijer", "de Boer", "Mulder", "de Groot", "Bos", "Vos", "Peters", "Hendriks",
            "van Leeuwen", "Dekker", "Brouwer", "de Wit", "Dijkstra"]),
    "es": (["Hugo", "Lucía", "Martín", "Sofía", "Pablo", "María", "Daniel", "Paula", "Alejandro",
            "Carmen", "Javier", "Elena", "Sergio", "Laura", "Adrián", "Marta"],
           ["García", "Rodríguez", "González", "Fernández", "López", "Martínez", "Sánchez", "Pérez",
            "Gómez", "Martín", "Jiménez", "Ruiz", "Hernández", "Díaz", "Moreno", "Álvarez"]),
    "it": (["Leonardo", "Sofia", "Francesco", "Giulia", "Alessandro", "Aurora", "Lorenzo", "Alice",
            "Mattia", "Ginevra", "Andrea", "Beatrice", "Gabriele", "Chiara", "Matteo", "Francesca"],
           ["Rossi", "Russo", "Ferrari", "Esposito", "Bianchi", "Romano", "Colombo", "Ricci", "Marino",
            "Greco", "Bruno", "Gallo", "Conti", "De Luca", "Mancini", "Costa"]),
    "se": (["Erik", "Anna", "Lars", "Maria", "Karl", "Eva", "Johan", "Karin", "Anders", "Sara",
            "Oskar", "Elsa", "Nils", "Ingrid", "Björn", "Astrid"],
           ["Andersson", "Johansson", "Karlsson", "Nilsson", "Eriksson", "Larsson", "Olsson", "Persson",
            "Svensson", "Gustafsson", "Pettersson", "Jonsson", "Lindberg", "Lindström", "Åberg",
            "Sjöberg"]),
    "pl": (["Jakub", "Zuzanna", "Kacper", "Julia", "Szymon", "Maja", "Filip", "Zofia", "Michał",
            "Hanna", "Mateusz", "Aleksandra", "Piotr", "Katarzyna", "Tomasz", "Agnieszka", "Paweł",
            "Magdalena", "Krzysztof", "Małgorzata", "Łukasz", "Joanna", "Marcin", "Ewa"],
           ["Nowak", "Kowalski", "Wiśniewski", "Wójcik", "Kowalczyk", "Kamiński", "Lewandowski",
            "Zieliński", "Szymański", "Woźniak", "Dąbrowski", "Kozłowski", "Jankowski", "Mazur",
            "Krawczyk", "Piotrowski", "Grabowski", "Nowakowski", "Pawłowski", "Michalski", "Król",
            "Wieczorek", "Jabłoński", "Majewski"]),
    "br": (["Miguel", "Helena", "Arthur", "Alice", "Heitor", "Laura", "Bernardo", "Manuela", "Davi",
            "Valentina", "Gabriel", "Sophia", "Pedro", "Isabella", "Lucas", "Beatriz"],
           ["Silva", "Santos", "Oliveira", "Souza", "Rodrigues", "Ferreira", "Alves", "Pereira", "Lima",
            "Gomes", "Costa", "Ribeiro", "Martins", "Carvalho", "Almeida", "Araújo"]),
    "mx": (["Santiago", "Sofía", "Mateo", "Valentina", "Sebastián", "Regina", "Leonardo", "Camila",
            "Diego", "Ximena", "Emiliano", "Fernanda", "José", "Guadalupe", "Luis", "Daniela"],
           ["Hernández", "García", "Martínez", "López", "González", "Pérez", "Rodríguez", "Sánchez",
            "Ramírez", "Cruz", "Flores", "Gómez", "Morales", "Vázquez", "Reyes", "Jiménez"]),
    "jp": (["Haruto", "Yui", "Sota", "Hina", "Ren", "Yuna", "Kenji", "Aiko", "Takashi", "Yuki",
            "Hiroshi", "Naomi", "Daiki", "Sakura", "Kaito", "Emi"],
           ["Sato", "Suzuki", "Takahashi", "Tanaka", "Watanabe", "Ito", "Yamamoto", "Nakamura",
            "Kobayashi", "Kato", "Yoshida", "Yamada", "Sasaki", "Matsumoto", "Inoue", "Kimura"]),
    "sg": (["Wei Ling", "Jun Jie", "Hui Min", "Kai Xuan", "Siti", "Muhammad", "Nurul", "Arjun",
            "Priya", "Darren", "Rachel", "Marcus", "Sharon", "Bryan", "Mei Xin", "Zhi Hao", "Farah",
            "Hafiz", "Vanessa", "Kelvin"],
           ["Tan", "Lim", "Lee", "Ng", "Ong", "Wong", "Goh", "Chua", "Chan", "Koh", "Teo", "Rahman",
            "Ismail", "Nair", "Yeo", "Toh", "Low", "Sim", "Ho", "Pillai"]),
    "in": (["Aarav", "Ananya", "Vivaan", "Diya", "Aditya", "Saanvi", "Arjun", "Isha", "Rohan",
            "Kavya", "Rahul", "Priya", "Vikram", "Sneha", "Karthik", "Lakshmi", "Sanjay", "Deepa", "Nikhil",
            "Pooja", "Amit", "Neha", "Suresh", "Divya", "Ravi", "Meera", "Anil", "Shreya", "Varun",
            "Anjali"],
           ["Sharma", "Patel", "Singh", "Kumar", "Gupta", "Reddy", "Iyer", "Nair", "Rao", "Mehta",
            "Joshi", "Desai", "Menon", "Pillai", "Chopra", "Banerjee", "Mukherjee", "Krishnan", "Agarwal",
            "Bhat", "Chatterjee", "Das", "Hegde", "Kulkarni", "Malhotra", "Naidu", "Saxena", "Shetty",
            "Srinivasan", "Verma"]),
}
POOL_MIX = {"ca": [("us", 70), ("fr", 30)], "au": [("gb", 60), ("us", 40)], "ie": [("ie", 60), ("gb", 40)]}
OTHER_MAIL_DOMAINS = ["outlook.com", "hotmail.com", "gmail.com", "proton.me"]

# ---------------------------------------------------------------------------------------------
# Departments.
# ---------------------------------------------------------------------------------------------

# name -> size (head included), cost centre, head, director/manager titles, IC titles, locations.
DEPARTMENTS: dict[str, dict] = {
    "Sales": dict(size=760, cost="4100", head=ALEX_WILBER, director="Sales Director", manager="Sales Manager",
                  ics=[("Account Executive", 30), ("Sales Representative", 30), ("Inside Sales Representative", 15),
                       ("Sales Engineer", 10), ("Key Account Manager", 10), ("Sales Development Representative", 5)]),
    "Marketing": dict(size=330, cost="4200", head=DEBRA_BERGER, director="Marketing Director",
                      manager="Marketing Manager",
                      ics=[("Marketing Specialist", 30), ("Digital Marketing Specialist", 20),
                           ("Product Marketing Manager", 15), ("Content Strategist", 15), ("Events Coordinator", 10),
                           ("Marketing Analyst", 10)]),
    "Design": dict(size=140, cost="3300", head=DIEGO_SICILIANI, director="Design Director", manager="Design Manager",
                   ics=[("UX Designer", 35), ("Product Designer", 30), ("Visual Designer", 20), ("UX Researcher", 15)],
                   places=[(("United States", "Redmond"), 50), (("United States", "New York"), 20),
                           (("United Kingdom", "London"), 15), (("Sweden", "Stockholm"), 15)]),
    "Engineering": dict(size=None, cost="3100", head=ISAIAH_LANGER, director="Engineering Director",
                        manager="Engineering Manager",
                        ics=[("Software Engineer", 40), ("Senior Software Engineer", 25),
                             ("Principal Software Engineer", 5), ("QA Engineer", 10), ("Site Reliability Engineer", 10),
                             ("Data Engineer", 10)],
                        places=[(("United States", "Redmond"), 45), (("United States", "San Francisco"), 10),
                                (("India", "Bangalore"), 20), (("India", "Hyderabad"), 5), (("Ireland", "Dublin"), 10),
                                (("Poland", "Kraków"), 10)]),
    "Finance": dict(size=210, cost="5100", head=MIRIAM_GRAHAM, director="Finance Director", manager="Finance Manager",
                    ics=[("Accountant", 35), ("Financial Analyst", 35), ("Payroll Specialist", 15), ("Controller", 5),
                         ("Accounts Payable Specialist", 10)],
                    places=[(("United States", "Redmond"), 50), (("United States", "New York"), 20),
                            (("Ireland", "Dublin"), 20), (("Singapore", "Singapore"), 10)]),
    "HR": dict(size=120, cost="5200", head=JOHANNA_LORENZ, director="HR Director", manager="HR Manager",
               ics=[("HR Business Partner", 30), ("Recruiter", 30), ("HR Generalist", 25), ("Learning Specialist", 15)],
               places=[(("United States", "Redmond"), 60), (("United Kingdom", "London"), 15),
                       (("India", "Bangalore"), 15), (("Germany", "Munich"), 10)]),
    "IT": dict(size=230, cost="5300", head=NESTOR_WILKE, director="IT Director", manager="IT Manager",
               ics=[("Systems Administrator", 25), ("Service Desk Analyst", 30), ("Network Engineer", 15),
                    ("Security Analyst", 15), ("Identity Engineer", 15)],
               places=[(("United States", "Redmond"), 50), (("India", "Hyderabad"), 25), (("Poland", "Warsaw"), 15),
                       (("Germany", "Munich"), 10)]),
    "Operations": dict(size=300, cost="6100", head=GRADY_ARCHIE, director="Operations Director",
                       manager="Operations Manager",
                       ics=[("Operations Analyst", 30), ("Logistics Coordinator", 30), ("Procurement Specialist", 25),
                            ("Facilities Coordinator", 15)],
                       places=[(("United States", "Redmond"), 30), (("United States", "Atlanta"), 20),
                               (("Netherlands", "Amsterdam"), 20), (("Singapore", "Singapore"), 15),
                               (("Mexico", "Monterrey"), 15)]),
    "Legal": dict(size=70, cost="5400", head=JONI_SHERMAN, director="Deputy General Counsel", manager="Senior Counsel",
                  ics=[("Corporate Counsel", 35), ("Paralegal", 30), ("Compliance Officer", 20),
                       ("Contracts Manager", 15)],
                  places=[(("United States", "Redmond"), 60), (("United Kingdom", "London"), 25),
                          (("United States", "New York"), 15)]),
}
REGIONAL = ("Sales", "Marketing")
# Where each region's directors sit.
REGION_DIRECTOR_PLACE = {
    ("Sales", "EMEA"): ("Germany", "Munich"), ("Sales", "AMER"): ("United States", "New York"),
    ("Sales", "APAC"): ("Singapore", "Singapore"), ("Marketing", "EMEA"): ("United Kingdom", "London"),
    ("Marketing", "AMER"): ("United States", "New York"), ("Marketing", "APAC"): ("Australia", "Sydney"),
}

# The fixed people: id -> properties. `manager` is an id; placement in teams is done below.
NAMED: dict[str, dict] = {
    PATTI_FERNANDEZ: dict(given="Patti", surname="Fernandez", department="Executive",
                          title="Chief Executive Officer", place=("United States", "Redmond"), manager=None,
                          hired="2008-03-03"),
    ALEX_WILBER: dict(given="Alex", surname="Wilber", department="Sales", title="Chief Sales Officer",
                      place=("United States", "Redmond"), manager=PATTI_FERNANDEZ, hired="2010-06-01"),
    DEBRA_BERGER: dict(given="Debra", surname="Berger", department="Marketing", title="Chief Marketing Officer",
                       place=("United States", "Redmond"), manager=PATTI_FERNANDEZ, hired="2012-02-13"),
    DIEGO_SICILIANI: dict(given="Diego", surname="Siciliani", department="Design", title="Head of Design",
                          place=("United States", "Redmond"), manager=PATTI_FERNANDEZ, hired="2014-09-01"),
    ISAIAH_LANGER: dict(given="Isaiah", surname="Langer", department="Engineering",
                        title="Chief Technology Officer", place=("United States", "Redmond"),
                        manager=PATTI_FERNANDEZ, hired="2009-01-05"),
    MIRIAM_GRAHAM: dict(given="Miriam", surname="Graham", department="Finance", title="Chief Financial Officer",
                        place=("United States", "Redmond"), manager=PATTI_FERNANDEZ, hired="2011-04-18"),
    JOHANNA_LORENZ: dict(given="Johanna", surname="Lorenz", department="HR", title="Chief People Officer",
                         place=("United States", "Redmond"), manager=PATTI_FERNANDEZ, hired="2013-07-01"),
    NESTOR_WILKE: dict(given="Nestor", surname="Wilke", department="IT", title="Chief Information Officer",
                       place=("United States", "Redmond"), manager=PATTI_FERNANDEZ, hired="2010-10-04"),
    GRADY_ARCHIE: dict(given="Grady", surname="Archie", department="Operations", title="Chief Operating Officer",
                       place=("United States", "Redmond"), manager=PATTI_FERNANDEZ, hired="2009-05-11"),
    JONI_SHERMAN: dict(given="Joni", surname="Sherman", department="Legal", title="General Counsel",
                       place=("United States", "Redmond"), manager=PATTI_FERNANDEZ, hired="2015-03-02"),
    HENRIETTA_MUELLER: dict(given="Henrietta", surname="Mueller", department="Sales", title="Sales Director EMEA",
                            place=("Germany", "Munich"), manager=ALEX_WILBER, region="EMEA", hired="2013-01-07"),
    PRADEEP_GUPTA: dict(given="Pradeep", surname="Gupta", department="Sales", title="Sales Director AMER",
                        place=("United States", "New York"), manager=ALEX_WILBER, region="AMER",
                        hired="2014-05-05"),
    LEE_GU: dict(given="Lee", surname="Gu", department="Sales", title="Sales Director APAC",
                 place=("Singapore", "Singapore"), manager=ALEX_WILBER, region="APAC", hired="2016-08-15"),
    LYNNE_ROBBINS: dict(given="Lynne", surname="Robbins", department="Sales", title="Sales Manager DACH",
                        place=("Germany", "Munich"), manager=HENRIETTA_MUELLER, region="EMEA",
                        hired="2015-11-02"),
    GERHART_MOLLER: dict(given="Gerhart", surname="Moller", department="Sales", title="Sales Representative",
                         place=("Germany", "Munich"), manager=LYNNE_ROBBINS, region="EMEA", hired="2026-11-23"),
    ADELE_VANCE: dict(given="Adele", surname="Vance", department="Sales", title="Account Executive",
                      place=("Germany", "Munich"), manager=LYNNE_ROBBINS, region="EMEA", hired="2019-04-01"),
    CHRISTIE_CLINE: dict(given="Christie", surname="Cline", department="IT", title="ERP Program Manager",
                         place=("United States", "Redmond"), manager=NESTOR_WILKE, hired="2017-02-06"),
    MEGAN_BOWEN: dict(given="Megan", surname="Bowen", department="IT", title="IT Administrator",
                      place=("United States", "Redmond"), manager=NESTOR_WILKE, hired="2018-09-17"),
}
# Named people who report straight to their department head, outside the director/manager levels.
HEAD_REPORTS = {"IT": [CHRISTIE_CLINE, MEGAN_BOWEN]}

PARTNERS = {
    "fabrikam.com": dict(company="Fabrikam", country="United States", city="New York", usage="US",
                         lead=(NORA_WHITFIELD, "Nora", "Whitfield", "ERP Implementation Lead"),
                         titles=["ERP Consultant", "ERP Developer", "Data Migration Specialist", "Solution Architect"],
                         pool="us"),
    "litware.com": dict(company="Litware", country="United Kingdom", city="London", usage="GB",
                        lead=(TOMAS_HERRERA, "Tomás", "Herrera", "Solution Architect"),
                        titles=["Integration Engineer", "ERP Consultant", "Business Analyst", "Test Analyst"],
                        pool="gb"),
    "adatum.com": dict(company="Adatum", country="Germany", city="Berlin", usage="DE",
                       lead=(MEI_TANAKA, "Mei", "Tanaka", "Vendor Account Manager"),
                       titles=["Vendor Support Engineer", "License Specialist", "Implementation Specialist"],
                       pool="de"),
}

SERVICE_PLANS = [  # (service, servicePlanId): Exchange Online, SharePoint Online, Microsoft Teams
    ("exchange", "efb87545-963c-4e0d-99df-69c6916d9eb0"),
    ("SharePoint", "5dbe027f-2339-4123-9542-606e4d348a72"),
    ("TeamspaceAPI", "57ff2da0-773e-42df-b2af-ffb7a2317929"),
]

# ---------------------------------------------------------------------------------------------
# Generation.
# ---------------------------------------------------------------------------------------------

rng = Random(SEED)


def new_id() -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def weighted(options: list[tuple[object, int]]):
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


_FOLD = str.maketrans({"ß": "ss", "ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE", "đ": "d"})


def ascii_fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.translate(_FOLD))
    return "".join(c for c in text if not unicodedata.combining(c))


def address_part(text: str) -> str:
    return re.sub(r"[^a-z0-9-]", "", ascii_fold(text).lower())


def pick_name(pool: str) -> tuple[str, str]:
    if pool in POOL_MIX:
        pool = weighted(POOL_MIX[pool])
    given, surnames = NAMES[pool]
    return rng.choice(given), rng.choice(surnames)


def pool_for(country: str) -> str:
    pool = COUNTRIES[country][4]
    if country == "United States" and rng.random() < 0.2:  # a diverse workforce
        pool = rng.choice(sorted(p for p in NAMES if p != "us"))
    return pool


def random_date(start: date, end: date) -> date:
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def city_in(country: str, city: str | None = None) -> tuple[str, str | None, str]:
    cities = COUNTRIES[country][5]
    if city is None:
        return rng.choice(cities)
    for entry in cities:
        if entry[0] == city:
            return entry
    raise KeyError(f"{city} is not a known city of {country}")


class People:
    """The internal users, in the order they are created, with their unique addresses."""

    def __init__(self) -> None:
        self.people: list[dict] = []
        self.by_id: dict[str, dict] = {}
        self.upns: set[str] = set()
        self.aliases: set[str] = set()
        self.names: set[str] = set()
        # Reserve the named people's addresses before any generated namesake can take them.
        for spec in NAMED.values():
            given, surname = address_part(spec["given"]), address_part(spec["surname"])
            self.upns.add(f"{given}.{surname}")
            self.aliases.add(f"{given[:1]}{surname}")

    def unique(self, taken: set[str], base: str) -> str:
        candidate, n = base, 1
        while candidate in taken:
            n += 1
            candidate = f"{base}{n}"
        taken.add(candidate)
        return candidate

    def add(self, *, given: str, surname: str, department: str, title: str, place: tuple[str, str],
            manager: str | None, level: int, region: str | None = None, hired: date | None = None,
            fixed_id: str | None = None) -> dict:
        g, s = address_part(given), address_part(surname)
        if fixed_id:  # reserved in __init__
            local, alias = f"{g}.{s}", f"{g[:1]}{s}"
        else:
            local = self.unique(self.upns, f"{g}.{s}")
            alias = self.unique(self.aliases, f"{g[:1]}{s}")
        if hired is None:
            span = {2: (2009, 2018), 3: (2010, 2022), 4: (2011, 2024), 5: (2012, 2026)}[level]
            last = date(span[1], 10, 31) if span[1] == 2026 else date(span[1], 12, 31)
            hired = random_date(date(span[0], 1, 1), last)
        person = dict(id=fixed_id or new_id(), given=given, surname=surname, local=local, alias=alias,
                      department=department, title=title, country=place[0], city=place[1], manager=manager,
                      level=level, region=region, hired=hired)
        self.people.append(person)
        self.names.add(f"{given} {surname}")
        self.by_id[person["id"]] = person
        return person

    def add_named(self, person_id: str, level: int) -> dict:
        spec = NAMED[person_id]
        return self.add(given=spec["given"], surname=spec["surname"], department=spec["department"],
                        title=spec["title"], place=spec["place"], manager=spec["manager"], level=level,
                        region=spec.get("region"), hired=date.fromisoformat(spec["hired"]), fixed_id=person_id)

    def add_generated(self, *, department: str, title: str, place: tuple[str, str], manager: str, level: int,
                      region: str | None = None) -> dict:
        pool = pool_for(place[0])
        for _ in range(8):  # namesakes happen, but not five of them
            given, surname = pick_name(pool)
            if f"{given} {surname}" not in self.names:
                break
        return self.add(given=given, surname=surname, department=department, title=title, place=place,
                        manager=manager, level=level, region=region)


def split(total: int, parts: int) -> list[int]:
    """`total` split into `parts` near-equal sizes, the larger ones placed at random."""
    base, extra = divmod(total, parts)
    sizes = [base] * parts
    for i in rng.sample(range(parts), extra):
        sizes[i] += 1
    return sizes


def build_branch(people: People, dept: str, director: dict, budget: int, manager_place, region: str | None,
                 fixed_managers: list[str] = (), fixed_ics: dict[str, list[str]] | None = None) -> None:
    """Managers and individual contributors under `director`: `budget` people in all."""
    spec = DEPARTMENTS[dept]
    fixed_ics = fixed_ics or {}
    n_managers = max(1, round(budget / 11))
    team_sizes = split(budget - n_managers, n_managers)
    for index in range(n_managers):
        if index < len(fixed_managers):
            manager = people.add_named(fixed_managers[index], level=4)
        else:
            manager = people.add_generated(department=dept, title=spec["manager"], place=manager_place(),
                                           manager=director["id"], level=4, region=region)
        named_ics = fixed_ics.get(manager["id"], [])
        for ic_id in named_ics:
            people.add_named(ic_id, level=5)
        for _ in range(team_sizes[index] - len(named_ics)):
            if rng.random() < 0.9:
                place = (manager["country"], manager["city"])
            else:  # works remotely from another office
                place = manager_place()
            people.add_generated(department=dept, title=weighted(spec["ics"]), place=place,
                                 manager=manager["id"], level=5, region=region)


def build_people() -> People:
    people = People()
    ceo = people.add_named(PATTI_FERNANDEZ, level=1)
    sizes = {d: s["size"] for d, s in DEPARTMENTS.items()}
    sizes["Engineering"] = INTERNAL_USERS - 1 - sum(s for s in sizes.values() if s)
    for dept, spec in DEPARTMENTS.items():
        head = people.add_named(spec["head"], level=2)
        assert head["manager"] == ceo["id"]
        extras = HEAD_REPORTS.get(dept, [])
        for person_id in extras:
            people.add_named(person_id, level=3)
        budget = sizes[dept] - 1 - len(extras)
        if dept in REGIONAL:
            budgets = {r: round(budget * REGION_SHARE[r]) for r in REGIONS}
            budgets["APAC"] = budget - budgets["EMEA"] - budgets["AMER"]
            for region in REGIONS:
                directors = {"EMEA": HENRIETTA_MUELLER, "AMER": PRADEEP_GUPTA, "APAC": LEE_GU}
                if dept == "Sales":
                    director = people.add_named(directors[region], level=3)
                else:
                    director = people.add_generated(department=dept, title=f"{spec['director']} {region}",
                                                    place=REGION_DIRECTOR_PLACE[(dept, region)],
                                                    manager=head["id"], level=3, region=region)

                def region_place(region=region):
                    country = weighted(REGION_COUNTRIES[region])
                    return country, city_in(country)[0]

                emea_sales = dept == "Sales" and region == "EMEA"
                build_branch(people, dept, director, budgets[region] - 1, region_place, region,
                             fixed_managers=[LYNNE_ROBBINS] if emea_sales else [],
                             fixed_ics={LYNNE_ROBBINS: [GERHART_MOLLER, ADELE_VANCE]} if emea_sales else None)
        else:
            n_directors = max(1, round(budget / 180))
            for director_budget in split(budget, n_directors):
                place = weighted(spec["places"])
                director = people.add_generated(department=dept, title=spec["director"], place=place,
                                                manager=head["id"], level=3)
                build_branch(people, dept, director, director_budget - 1,
                             lambda spec=spec: weighted(spec["places"]), None)
    assert len(people.people) == INTERNAL_USERS, len(people.people)
    return people


def phone(country: str, area: str, mobile: bool) -> str:
    _, _, code, mobile_prefix, _, _ = COUNTRIES[country]
    if code == "+1":  # North American numbers in the 555-01xx range reserved for fiction
        return f"+1 {area} 555 0{rng.randint(100, 199)}"
    if country == "Singapore":  # eight digits, no area code
        return f"+65 {mobile_prefix if mobile else area}{rng.randint(100, 999)} {rng.randint(1000, 9999)}"
    if mobile:
        return f"{code} {mobile_prefix} {rng.randint(1000000, 9999999)}"
    return f"{code} {area} {rng.randint(1000000, 9999999)}"


def stamp(day: date, hour: int = 0, minute: int = 0, second: int = 0) -> str:
    return datetime(day.year, day.month, day.day, hour, minute, second).strftime("%Y-%m-%dT%H:%M:%SZ")


def graph_user(person: dict, employee_number: int, disabled: bool) -> dict:
    country, city = person["country"], person["city"]
    usage, language, _, _, _, _ = COUNTRIES[country]
    _, state, area = city_in(country, city)
    upn = f"{person['local']}@{DOMAIN}"
    building, room = rng.randint(1, 9), rng.randint(100, 1999)
    user: dict = {
        "id": person["id"],
        "displayName": f"{person['given']} {person['surname']}",
        "givenName": person["given"],
        "surname": person["surname"],
        "userPrincipalName": upn,
        "mail": upn,
        "mailNickname": person["local"],
    }
    if rng.random() < 0.08:
        personal = f"{address_part(person['given'])}.{address_part(person['surname'])}{rng.randint(1, 99)}"
        user["otherMails"] = [f"{personal}@{rng.choice(OTHER_MAIL_DOMAINS)}"]
    user["proxyAddresses"] = [f"SMTP:{upn}", f"smtp:{person['alias']}@{DOMAIN}"]
    user["userType"] = "Member"
    user["accountEnabled"] = not disabled
    user["department"] = person["department"]
    user["jobTitle"] = person["title"]
    user["companyName"] = "Contoso"
    if person["level"] == 5 and rng.random() < 0.03:  # most users leave employeeType unset, as in Graph
        user["employeeType"] = "Contractor"
    user["country"] = country
    user["city"] = city
    if state:
        user["state"] = state
    user["usageLocation"] = usage
    user["employeeId"] = str(employee_number)
    user["employeeHireDate"] = stamp(person["hired"])
    user["physicalDeliveryOfficeName"] = f"{city} {building}/{room}"
    user["preferredLanguage"] = language
    if rng.random() < 0.45:
        user["mobilePhone"] = phone(country, area, mobile=True)
    user["businessPhones"] = [phone(country, area, mobile=False)]
    if person["manager"]:
        user["manager"] = {"id": person["manager"]}
    if rng.random() < 0.15 and person["hired"] < date(2026, 11, 1):
        licensed = max(person["hired"], date(2016, 1, 4)) + timedelta(days=rng.randrange(0, 30))
        at = stamp(licensed, rng.randint(7, 18), rng.randint(0, 59), rng.randint(0, 59))
        plans = SERVICE_PLANS[: rng.choice([1, 1, 1, 2, 3])]
        user["assignedPlans"] = [{"assignedDateTime": at, "capabilityStatus": "Enabled", "service": service,
                                  "servicePlanId": plan} for service, plan in plans]
    attributes = {"extensionAttribute1": f"CC-{DEPARTMENTS.get(person['department'], {'cost': '1000'})['cost']}"}
    if person["region"]:
        attributes["extensionAttribute15"] = person["region"]
    user["onPremisesExtensionAttributes"] = attributes
    if rng.random() < 0.15:
        user[OFFICE_NUMBER] = f"{building}-{room}"
    return user


def build_guests(people: People, erp_team: list[str]) -> list[dict]:
    guests = []
    taken: set[str] = set()
    for domain, partner in PARTNERS.items():
        lead_id, lead_given, lead_surname, lead_title = partner["lead"]
        members = [(lead_id, lead_given, lead_surname, lead_title, CHRISTIE_CLINE)]
        for _ in range(GUESTS_PER_PARTNER[domain] - 1):
            given, surname = pick_name(partner["pool"])
            members.append((new_id(), given, surname, rng.choice(partner["titles"]), rng.choice(erp_team)))
        for guest_id, given, surname, title, manager in members:
            local = people.unique(taken, f"{address_part(given)}.{address_part(surname)}")
            mail = f"{local}@{domain}"
            external = f"{local}_{domain}#EXT#"
            guests.append({
                "id": guest_id,
                "displayName": f"{given} {surname}",
                "givenName": given,
                "surname": surname,
                "userPrincipalName": f"{external}@{INITIAL_DOMAIN}",
                "mail": mail,
                "mailNickname": external,
                "otherMails": [mail],
                "proxyAddresses": [f"SMTP:{mail}"],
                "userType": "Guest",
                "accountEnabled": True,
                "jobTitle": title,
                "companyName": partner["company"],
                "country": partner["country"],
                "city": partner["city"],
                "usageLocation": partner["usage"],
                "manager": {"id": manager},
            })
    return guests


def refs(ids) -> list[dict]:
    return [{"id": i} for i in sorted(set(ids))]


def group(group_id: str, name: str, description: str, members, owners, *, kind: str = "security",
          nickname: str | None = None, rule: str | None = None, synced: bool = False) -> dict:
    nickname = nickname or re.sub(r"[^A-Za-z0-9]", "", name)
    g: dict = {"id": group_id, "displayName": name, "description": description}
    if kind in ("unified", "team", "distribution"):
        g["mail"] = f"{nickname}@{DOMAIN}"
    g["mailNickname"] = nickname
    g["mailEnabled"] = kind in ("unified", "team", "distribution")
    g["securityEnabled"] = kind in ("security", "dynamic")
    g["groupTypes"] = {"unified": ["Unified"], "team": ["Unified"], "dynamic": ["DynamicMembership"]}.get(kind, [])
    if rule:
        g["membershipRule"] = rule
        g["membershipRuleProcessingState"] = "On"
    if synced:
        g["onPremisesSyncEnabled"] = True
    g["resourceProvisioningOptions"] = ["Team"] if kind == "team" else []
    if kind in ("unified", "team"):
        g["visibility"] = "Private"
    g["members"] = refs(members)
    g["owners"] = refs(owners)
    return g


def build_groups(people: People, erp_team: list[str], erp_approvers: list[str]) -> list[dict]:
    internal = people.people

    def where(**match) -> list[str]:
        return [p["id"] for p in internal if all(p[k] == v for k, v in match.items())]

    def by_dept(*depts) -> list[str]:
        return [p["id"] for p in internal if p["department"] in depts]

    sales = [i for i in by_dept("Sales") if i != GERHART_MOLLER]  # the new hire gets these through a package
    marketing = by_dept("Marketing")
    regional_director = {r: where(department="Sales", level=3, region=r)[0] for r in REGIONS}
    groups = [
        group(G_SALES_AND_MARKETING, "Sales and Marketing",
              "Team of the Sales and Marketing departments: announcements, pipeline and campaigns.",
              sales + marketing, [ALEX_WILBER, DEBRA_BERGER], kind="team", nickname="SalesAndMarketing"),
        group(G_MARKETING, "Marketing", "Everyone in Marketing.", marketing, [DEBRA_BERGER]),
        group(G_SALES, "Sales", "Everyone in Sales.", sales, [ALEX_WILBER]),
        group(G_E5_LICENSE, "Microsoft E5 + ID Governance",
              "Group-based licensing: members get Microsoft 365 E5 and Microsoft Entra ID Governance.",
              by_dept("IT", "HR", "Legal", "Finance", "Executive"), [MEGAN_BOWEN], nickname="LicenseE5IDGovernance"),
    ]
    for gid, region in zip([G_SALES_EMEA, G_SALES_AMER, G_SALES_APAC], REGIONS):
        groups.append(group(gid, f"Sales {region}", f"Sales people of the {region} region.",
                            where(department="Sales", region=region), [regional_director[region]]))
    groups += [
        group(G_ERP_PROJECT_TEAM, "ERP Project Team",
              "Team and channels of the ERP replacement project, shared with partners.", erp_team,
              [CHRISTIE_CLINE], kind="team", nickname="ERPProjectTeam"),
        group(G_ERP_PROJECT_APPROVERS, "ERP Project Approvers",
              "Approve and review access to the ERP project; fallback reviewers.", erp_approvers,
              [CHRISTIE_CLINE]),
    ]
    department_groups = [(G_DESIGN_DEPARTMENT, "Design"), (G_ENGINEERING_DEPARTMENT, "Engineering"),
                         (G_FINANCE_DEPARTMENT, "Finance"), (G_HR_DEPARTMENT, "HR"), (G_IT_DEPARTMENT, "IT"),
                         (G_OPERATIONS_DEPARTMENT, "Operations"), (G_LEGAL_DEPARTMENT, "Legal")]
    for gid, dept in department_groups:
        groups.append(group(gid, f"{dept} Department", f"Everyone in the {dept} department.", by_dept(dept),
                            [DEPARTMENTS[dept]["head"]]))
    design_leads = [p["id"] for p in internal if p["department"] == "Design" and p["level"] <= 4]
    groups.append(group(G_DESIGN_MANAGERS, "Design Managers",
                        "The Design department's head, directors and managers.", design_leads, [DIEGO_SICILIANI]))
    finance = by_dept("Finance")
    groups += [
        group(G_ALL_ENGINEERING_DYNAMIC, "All Engineering (dynamic)",
              "Dynamic membership: every user whose department is Engineering.", by_dept("Engineering"),
              [ISAIAH_LANGER], kind="dynamic", nickname="AllEngineering", rule='user.department -eq "Engineering"'),
        group(G_FINANCE_SHARE_SYNCED, "FS-Finance-Share-RW",
              "Synchronized from on-premises Active Directory (contoso.local): read/write on the finance file share.",
              rng.sample(finance, 40), [MIRIAM_GRAHAM], synced=True),
        group(G_NEWSLETTER_DISTRIBUTION, "Contoso Newsletter",
              "Distribution list for the monthly company newsletter.",
              rng.sample([p["id"] for p in internal], 150), [JOHANNA_LORENZ], kind="distribution",
              nickname="newsletter"),
    ]
    return groups


def app_role(role_id: str, name: str, description: str, value: str) -> dict:
    return {"id": role_id, "displayName": name, "description": description, "value": value, "isEnabled": True,
            "allowedMemberTypes": ["User"]}


def build_applications() -> list[dict]:
    return [
        {"id": APP_SALESFORCE, "displayName": "Salesforce", "appId": "00000000-0000-0000-0002-100000000001",
         "description": "CRM for the Sales and Marketing departments (single sign-on and provisioning).",
         "appRoles": [
             app_role("00000000-0000-0000-0002-000100000001", "Sales User", "Works opportunities and accounts.",
                      "SalesUser"),
             app_role("00000000-0000-0000-0002-000100000002", "Sales Manager",
                      "Manages a sales team's pipeline and forecasts.", "SalesManager"),
             app_role("00000000-0000-0000-0002-000100000003", "Marketing User", "Runs campaigns and leads.",
                      "MarketingUser"),
         ]},
        {"id": APP_ERP_SYSTEM, "displayName": "ERP System", "appId": "00000000-0000-0000-0002-100000000002",
         "description": "The new enterprise resource planning system the ERP project introduces.",
         "appRoles": [
             app_role("00000000-0000-0000-0002-000200000001", "ERP User", "Reads and enters business data.",
                      "ERP.User"),
             app_role("00000000-0000-0000-0002-000200000002", "ERP Approver", "Approves purchase orders.",
                      "ERP.Approver"),
             app_role("00000000-0000-0000-0002-000200000003", "ERP Administrator",
                      "Configures the system and its integrations.", "ERP.Admin"),
         ]},
        {"id": APP_DESIGN_ASSET_LIBRARY, "displayName": "Design Asset Library",
         "appId": "00000000-0000-0000-0002-100000000003",
         "description": "Brand and product design assets. Defines no app roles: it is assigned with Default Access.",
         "appRoles": [], "owners": [{"id": DIEGO_SICILIANI}]},
        {"id": APP_WORKDAY, "displayName": "Workday", "appId": "00000000-0000-0000-0002-100000000004",
         "description": "Human resources: people data, time off and payroll.",
         "appRoles": [
             app_role("00000000-0000-0000-0002-000400000001", "Employee", "Self-service for every employee.",
                      "Employee"),
             app_role("00000000-0000-0000-0002-000400000002", "HR Partner", "Manages people data.", "HRPartner"),
         ]},
        {"id": APP_GITHUB_ENTERPRISE, "displayName": "GitHub Enterprise",
         "appId": "00000000-0000-0000-0002-100000000005",
         "description": "Source code hosting for Engineering.",
         "appRoles": [
             app_role("00000000-0000-0000-0002-000500000001", "Member", "Member of the Contoso organization.",
                      "Member"),
             app_role("00000000-0000-0000-0002-000500000002", "Owner", "Owner of the Contoso organization.",
                      "Owner"),
         ]},
    ]


def build_sites() -> list[dict]:
    sites = [
        {"id": SITE_GLOBAL_MARKETING, "displayName": "Global Marketing",
         "description": "Campaigns, brand guidelines and sales collateral for every region.",
         "webUrl": "https://contoso.sharepoint.com/sites/GlobalMarketing",
         "roles": [{"id": "3", "displayName": "Global Marketing Owners", "description": "Full control"},
                   {"id": "4", "displayName": "Global Marketing Members", "description": "Edit"},
                   {"id": "5", "displayName": "Global Marketing Visitors", "description": "Read"}]},
        {"id": SITE_ERP_PROJECT, "displayName": "ERP Project",
         "description": "Documents of the ERP replacement project, shared with partners.",
         "webUrl": "https://contoso.sharepoint.com/sites/ERPProject",
         "roles": [{"id": "3", "displayName": "ERP Project Owners", "description": "Full control"},
                   {"id": "4", "displayName": "ERP Project Members", "description": "Edit"},
                   {"id": "5", "displayName": "ERP Project Visitors", "description": "Read"}]},
    ]
    # Department sites list no roles: they get SharePoint's default site groups. Each department's head
    # administers its site, so a head who owns the department's catalog can add it (scenario 3).
    for n, dept in enumerate(DEPARTMENTS, start=1):
        sites.append({"id": f"{SITE_DEPARTMENT_BASE}{n:02d}", "displayName": f"{dept} Department Site",
                      "description": f"Home of the {dept} department.",
                      "webUrl": f"https://contoso.sharepoint.com/sites/{dept}Department",
                      "owners": [{"id": DEPARTMENTS[dept]["head"]}]})
    return sites


def build_roles() -> list[dict]:
    return [
        {"id": ROLE_GLOBAL_ADMINISTRATOR, "displayName": "Global Administrator",
         "description": "Can manage all aspects of Microsoft Entra ID and Microsoft services that use "
                        "Microsoft Entra identities.",
         "roleTemplateId": ROLE_GLOBAL_ADMINISTRATOR, "isBuiltIn": True, "isPrivileged": True,
         "members": [{"id": NESTOR_WILKE}]},
        {"id": ROLE_IDENTITY_GOVERNANCE_ADMINISTRATOR, "displayName": "Identity Governance Administrator",
         "description": "Manage access using Microsoft Entra ID for identity governance scenarios.",
         "roleTemplateId": ROLE_IDENTITY_GOVERNANCE_ADMINISTRATOR, "isBuiltIn": True, "isPrivileged": True,
         "members": [{"id": MEGAN_BOWEN}]},
        {"id": ROLE_USER_ADMINISTRATOR, "displayName": "User Administrator",
         "description": "Can manage all aspects of users and groups, including resetting passwords for "
                        "limited admins.",
         "roleTemplateId": ROLE_USER_ADMINISTRATOR, "isBuiltIn": True, "isPrivileged": True},
        {"id": ROLE_ERP_PROJECT_REVIEWER, "displayName": "ERP Project Reviewer",
         "description": "Custom role: reads the directory objects of the ERP project for reviews.",
         "roleTemplateId": ROLE_ERP_PROJECT_REVIEWER, "isBuiltIn": False, "isPrivileged": False},
    ]


def build_directory() -> dict:
    people = build_people()
    # A few leavers whose accounts are disabled: individual contributors only, none of the named.
    contributors = [p["id"] for p in people.people if p["level"] == 5 and p["id"] not in NAMED]
    disabled = set(rng.sample(contributors, 12))
    users = [graph_user(p, 100000 + n, p["id"] in disabled) for n, p in enumerate(people.people, start=1)]

    # The ERP project: Christie and members from Finance, IT and Operations (Adele is not one yet).
    def sample_dept(dept: str, k: int) -> list[str]:
        pool = [p["id"] for p in people.people if p["department"] == dept and p["level"] >= 4
                and p["id"] not in NAMED and p["id"] not in disabled]
        return rng.sample(pool, k)

    erp_team = [CHRISTIE_CLINE] + sample_dept("Finance", 8) + sample_dept("IT", 8) + sample_dept("Operations", 8)
    erp_approvers = [CHRISTIE_CLINE, MIRIAM_GRAHAM, GRADY_ARCHIE]
    guests = build_guests(people, erp_team)

    all_users = sorted(users, key=lambda u: u["userPrincipalName"]) + sorted(
        guests, key=lambda u: u["userPrincipalName"])
    return {
        "@generatedBy": "scenarios/generate_demo_directory.py (random.Random(20261127))",
        "users": all_users,
        "groups": build_groups(people, erp_team, erp_approvers),
        "applications": build_applications(),
        "sites": build_sites(),
        "directoryRoles": build_roles(),
    }


# ---------------------------------------------------------------------------------------------
# Checks: the importer's rules (engine/src/import.rs) and this demo's own promises.
# ---------------------------------------------------------------------------------------------

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
EXTENSION = re.compile(r"^extension_[0-9a-fA-F]{32}_.+$")


def looks_like_address(value: str) -> bool:
    local, at, domain = value.partition("@")
    return bool(at) and bool(local) and "." in domain and not re.search(r"\s", value)


def is_rfc3339(value: str) -> bool:
    if not RFC3339.match(value):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


def check(doc: dict) -> None:
    problems: list[str] = []

    def expect(ok: bool, message: str) -> None:
        if not ok:
            problems.append(message)

    def no_nulls(value, path: str) -> None:
        if value is None:
            problems.append(f"{path} is null")
        elif isinstance(value, dict):
            for k, v in value.items():
                no_nulls(v, f"{path}.{k}")
        elif isinstance(value, list):
            for i, v in enumerate(value):
                no_nulls(v, f"{path}[{i}]")

    allowed = {"users", "groups", "applications", "sites", "directoryRoles"}
    for key in doc:
        expect(key in allowed or key.startswith("@"), f"unknown collection {key}")
    no_nulls(doc, "$")

    kinds: dict[str, str] = {}
    for collection in ["users", "groups", "applications", "sites", "directoryRoles"]:
        for i, item in enumerate(doc[collection]):
            item_id = item.get("id", "")
            expect(isinstance(item_id, str) and item_id.strip() != "", f"{collection}[{i}].id is empty")
            expect(item_id not in kinds, f"{collection}[{i}].id {item_id} is a duplicate")
            kinds[item_id] = collection
            if collection != "users":
                expect(bool(item.get("displayName", "").strip()), f"{collection}[{i}].displayName is empty")

    users = {u["id"]: u for u in doc["users"]}
    seen_addresses: set[str] = set()
    for i, u in enumerate(doc["users"]):
        path = f"users[{i}]"
        expect(u.get("userType") in ("Member", "Guest"), f"{path}.userType")
        expect(isinstance(u.get("accountEnabled"), bool), f"{path}.accountEnabled")
        for field in ("mail", "userPrincipalName"):
            expect(looks_like_address(u[field]), f"{path}.{field} {u[field]}")
        for m in u.get("otherMails", []):
            expect(looks_like_address(m), f"{path}.otherMails {m}")
        for address in [u["userPrincipalName"]] + [p.split(":", 1)[1] for p in u["proxyAddresses"]]:
            expect(address.lower() not in seen_addresses or address == u["mail"], f"{path}: {address} reused")
            seen_addresses.add(address.lower())
        loc = u.get("usageLocation")
        expect(loc is None or (len(loc) == 2 and loc.isascii() and loc.isalpha()), f"{path}.usageLocation")
        if "employeeHireDate" in u:
            expect(is_rfc3339(u["employeeHireDate"]), f"{path}.employeeHireDate")
        for j, plan in enumerate(u.get("assignedPlans", [])):
            expect(is_rfc3339(plan["assignedDateTime"]), f"{path}.assignedPlans[{j}].assignedDateTime")
        for key, value in u.items():
            if key.startswith("extension_"):
                expect(bool(EXTENSION.match(key)), f"{path}.{key} is not an extension property name")
                expect(isinstance(value, (str, int, float, bool)), f"{path}.{key} is not a scalar")
        manager = u.get("manager", {}).get("id")
        if u["userType"] == "Member" and u["id"] != PATTI_FERNANDEZ:
            expect(manager is not None, f"{path} has no manager")
        if manager is not None:
            expect(manager != u["id"], f"{path} is their own manager")
            expect(kinds.get(manager) == "users", f"{path}.manager.id {manager} is not a user")
            expect(users.get(manager, {}).get("userType") == "Member", f"{path}.manager is not internal")
    expect("manager" not in users[PATTI_FERNANDEZ], "the CEO has a manager")
    # The manager relation is a tree rooted at the CEO.
    depth_seen = 0
    for u in doc["users"]:
        chain, current = set(), u["id"]
        while current in users and "manager" in users[current]:
            expect(current not in chain, f"manager cycle through {current}")
            if current in chain:
                break
            chain.add(current)
            current = users[current]["manager"]["id"]
        expect(current == PATTI_FERNANDEZ, f"{u['id']} does not report up to the CEO")
        depth_seen = max(depth_seen, len(chain) + 1)
    expect(depth_seen <= 6, f"the manager tree is {depth_seen} deep")

    for i, g in enumerate(doc["groups"]):
        path = f"groups[{i}]"
        for t in g["groupTypes"]:
            expect(t in ("Unified", "DynamicMembership"), f"{path}.groupTypes {t}")
        expect(isinstance(g["mailEnabled"], bool) and isinstance(g["securityEnabled"], bool), f"{path} flags")
        for relation in ("members", "owners"):
            for j, ref in enumerate(g[relation]):
                kind = kinds.get(ref["id"])
                ok = kind == "users" or (relation == "members" and kind == "groups" and ref["id"] != g["id"])
                expect(ok, f"{path}.{relation}[{j}].id {ref['id']} is {kind}")
            expect(len({r["id"] for r in g[relation]}) == len(g[relation]), f"{path}.{relation} repeats")
        expect(bool(g["owners"]), f"{path} has no owner")
    for i, a in enumerate(doc["applications"]):
        ids = [r["id"] for r in a["appRoles"]]
        expect(len(ids) == len(set(ids)) and all(x.strip() for x in ids), f"applications[{i}].appRoles ids")
        expect(all(r["displayName"].strip() for r in a["appRoles"]), f"applications[{i}].appRoles names")
    for i, s in enumerate(doc["sites"]):
        expect(s["webUrl"].startswith(("https://", "http://")), f"sites[{i}].webUrl")
        ids = [r["id"] for r in s.get("roles", [])]
        expect(len(ids) == len(set(ids)), f"sites[{i}].roles ids")
    for collection in ("applications", "sites"):
        for i, item in enumerate(doc[collection]):
            for j, ref in enumerate(item.get("owners", [])):
                expect(kinds.get(ref["id"]) == "users", f"{collection}[{i}].owners[{j}].id is not a user")

    if problems:  # the promises below assume a well-formed document
        raise SystemExit("the demo directory is invalid:\n  " + "\n  ".join(problems[:50]))

    # The demo's promises.
    groups = {g["id"]: g for g in doc["groups"]}
    regional = [{r["id"] for r in groups[g]["members"]} for g in (G_SALES_EMEA, G_SALES_AMER, G_SALES_APAC)]
    expect(not (regional[0] & regional[1] or regional[0] & regional[2] or regional[1] & regional[2]),
           "regional sales groups overlap")
    for gid in regional[0]:
        u = users[gid]
        expect(u["department"] == "Sales"
               and u["onPremisesExtensionAttributes"].get("extensionAttribute15") == "EMEA", f"{gid} not EMEA sales")
    gerhart = users[GERHART_MOLLER]
    expect(gerhart["userPrincipalName"] == "gerhart.moller@contoso.com" and gerhart["country"] == "Germany",
           "Gerhart Moller")
    expect(gerhart["manager"]["id"] == LYNNE_ROBBINS and users[ADELE_VANCE]["manager"]["id"] == LYNNE_ROBBINS,
           "Lynne Robbins manages Gerhart and Adele")
    for gid in (G_SALES, G_MARKETING, G_SALES_AND_MARKETING, G_E5_LICENSE):
        expect(GERHART_MOLLER not in {r["id"] for r in groups[gid]["members"]}, f"Gerhart already in {gid}")
    expect(ADELE_VANCE not in {r["id"] for r in groups[G_ERP_PROJECT_TEAM]["members"]}, "Adele in ERP team")
    for g in (G_SALES_AND_MARKETING, G_ERP_PROJECT_TEAM):
        expect(groups[g]["groupTypes"] == ["Unified"] and groups[g]["resourceProvisioningOptions"] == ["Team"],
               f"{g} is not a team")
    guests = [u for u in doc["users"] if u["userType"] == "Guest"]
    erp_team = {r["id"] for r in groups[G_ERP_PROJECT_TEAM]["members"]}
    expect(all(g["manager"]["id"] in erp_team for g in guests), "a guest's manager is not on the ERP project")
    expect(sum(1 for u in doc["users"] if u["userType"] == "Member") == INTERNAL_USERS, "internal user count")
    expect(len(guests) == sum(GUESTS_PER_PARTNER.values()), "guest count")

    if problems:
        raise SystemExit("the demo directory is invalid:\n  " + "\n  ".join(problems[:50]))


def render(doc: dict) -> str:
    """One object per line: readable in a diff, compact on disk."""

    def one(value) -> str:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))

    lines = ["{"]
    keys = list(doc)
    for n, key in enumerate(keys):
        comma = "," if n < len(keys) - 1 else ""
        value = doc[key]
        if isinstance(value, list):
            lines.append(f"{one(key)}: [")
            lines.append(",\n".join(one(item) for item in value))
            lines.append(f"]{comma}")
        else:
            lines.append(f"{one(key)}: {one(value)}{comma}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main() -> None:
    text = render(build_directory())
    check(json.loads(text))  # check what is written, not what was meant
    OUTPUT.write_text(text, encoding="utf-8")
    doc = json.loads(text)
    print(f"wrote {OUTPUT.name}: {len(text.encode('utf-8')):,} bytes, "
          + ", ".join(f"{len(doc[k])} {k}" for k in ["users", "groups", "applications", "sites", "directoryRoles"]))


if __name__ == "__main__":
    main()
